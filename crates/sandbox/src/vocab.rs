//! The words generated issues and pages are written with (a few hundred, software-team
//! flavoured), and the small deterministic random source that picks them. Picks are skewed
//! towards the front of each list, so some words are common and others rare, as in real text,
//! and full-text ranking has something to tell apart.

/// Things software teams talk about.
#[rustfmt::skip]
pub(crate) const NOUNS: &[&str] = &[
    "search", "cache", "token", "index", "query", "page", "issue", "comment", "dashboard",
    "report", "release", "build", "pipeline", "deploy", "config", "schema", "endpoint", "client",
    "server", "database", "worker", "queue", "scheduler", "session", "permission", "audit",
    "backup", "replica", "shard", "snapshot", "metric", "alert", "log", "trace", "timeout",
    "retry", "parser", "cursor", "webhook", "migration", "connector", "gateway", "proxy",
    "certificate", "template", "export", "import", "upload", "attachment", "notification", "email",
    "filter", "form", "button", "modal", "sidebar", "editor", "preview", "thumbnail", "avatar",
    "profile", "account", "tenant", "workspace", "sprint", "backlog", "board", "incident",
    "runbook", "playbook", "checklist", "budget", "quota", "throttle", "latency", "throughput",
    "memory", "disk", "network", "socket", "connection", "handshake", "header", "payload",
    "response", "request", "batch", "stream", "buffer", "encoder", "serializer", "validator",
    "renderer", "compiler", "linter", "fixture", "benchmark", "profiler", "dependency", "library",
    "plugin", "extension", "integration", "transaction", "lock", "lease", "heartbeat", "watchdog",
    "job", "event", "listener", "handler", "callback", "channel", "topic", "subscription",
    "consumer", "producer", "partition", "cluster", "node", "region", "firewall", "resolver",
    "sitemap", "changelog", "roadmap", "onboarding", "invoice", "billing", "checkout", "cart",
    "catalog", "inventory", "warehouse", "shipment", "payment", "refund", "coupon", "locale",
    "translation", "timezone", "calendar", "reminder", "keyboard", "shortcut", "tooltip", "banner",
    "footer", "navigation", "breadcrumb", "pagination", "sorting", "encoding", "checksum",
    "signature", "credential", "secret", "vault", "rotation", "mirror", "artifact", "registry",
    "container", "image", "volume",
];

/// What teams do to those things (imperative, for summaries and action items).
#[rustfmt::skip]
pub(crate) const VERBS: &[&str] = &[
    "fix", "improve", "refactor", "add", "remove", "document", "investigate", "optimize",
    "migrate", "upgrade", "replace", "simplify", "validate", "monitor", "expose", "rename",
    "split", "merge", "deprecate", "support", "handle", "prevent", "reduce", "limit", "batch",
    "parallelize", "secure", "encrypt", "rotate", "test", "benchmark", "profile", "trace",
    "clean up", "review", "automate", "configure", "reconcile", "backfill", "paginate",
    "normalize", "sanitize", "localize", "harden", "unblock", "stabilize", "measure", "archive",
    "restore", "retire", "redesign", "instrument", "throttle", "debounce", "deduplicate",
];

/// What things do when they misbehave (third person, for bug reports).
#[rustfmt::skip]
pub(crate) const VERBS_3S: &[&str] = &[
    "fails", "times out", "returns stale data", "drops events", "duplicates entries",
    "ignores the setting", "blocks the queue", "retries forever", "leaks memory",
    "overwrites changes", "skips records", "truncates text", "rejects valid input", "hangs",
    "crashes", "loses the cursor", "logs secrets", "double counts", "spins the CPU", "returns 500",
    "misses updates", "sorts incorrectly",
];

/// Qualities, mostly of the troublesome kind.
#[rustfmt::skip]
pub(crate) const ADJECTIVES: &[&str] = &[
    "flaky", "slow", "stale", "missing", "duplicate", "broken", "intermittent", "legacy", "new",
    "optional", "default", "expired", "invalid", "large", "empty", "nested", "concurrent",
    "partial", "unexpected", "redundant", "inconsistent", "outdated", "verbose", "noisy", "silent",
    "critical", "minor", "public", "private", "internal", "external", "mobile", "offline",
    "remote", "local", "shared", "global", "temporary", "persistent", "encrypted", "compressed",
    "cached", "paginated", "incremental", "manual", "automatic", "scheduled", "asynchronous",
    "blocking", "idle", "orphaned", "unbounded", "misconfigured", "overloaded", "rate-limited",
    "unicode", "localized", "accessible", "responsive", "deprecated",
];

/// Where or when things happen.
#[rustfmt::skip]
pub(crate) const CONTEXTS: &[&str] = &[
    "on the login page", "in the search results", "during deploys", "under load",
    "after a restart", "for large projects", "on Data Center", "in the mobile app",
    "behind the corporate proxy", "for new tenants", "when the token expires",
    "in the nightly job", "on slow networks", "for archived spaces", "in the audit log",
    "during the migration", "with many attachments", "in dark mode", "for guest users",
    "across regions", "after the upgrade", "on the first run", "in the admin console",
    "for read-only users", "with unicode titles", "at month end", "in the export wizard",
    "over VPN", "on Windows", "in the sandbox",
];

/// People and teams mentioned in prose.
#[rustfmt::skip]
pub(crate) const TEAMS: &[&str] = &[
    "the platform team", "support", "the search squad", "security", "finance", "the on-call",
    "product", "design", "the data team", "customer success", "QA", "the release manager",
];

/// Months for plans and deadlines.
#[rustfmt::skip]
pub(crate) const MONTHS: &[&str] = &[
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
];

/// Issue labels.
#[rustfmt::skip]
pub(crate) const ISSUE_LABELS: &[&str] = &[
    "backend", "frontend", "ux", "perf", "tech-debt", "security", "docs", "customer", "regression",
    "flaky-test", "infra", "api", "mobile", "accessibility", "i18n", "billing", "search",
    "onboarding", "observability", "cleanup", "quick-win", "blocked", "needs-design", "support",
];

/// Page labels.
#[rustfmt::skip]
pub(crate) const PAGE_LABELS: &[&str] = &[
    "runbook", "design", "architecture", "meeting-notes", "how-to", "faq", "postmortem",
    "planning", "onboarding", "decision", "release", "retro", "draft", "reference", "security",
    "ops", "api", "guidelines",
];

/// Kinds of page, used in titles.
#[rustfmt::skip]
pub(crate) const PAGE_KINDS: &[&str] = &[
    "Runbook", "Design Notes", "Overview", "FAQ", "Postmortem", "Meeting Notes", "Checklist",
    "Onboarding Guide", "Architecture", "Decision Record", "Release Notes", "Troubleshooting",
    "How-to", "Retrospective", "Roadmap", "Reference", "Playbook", "Glossary",
];

/// Section headings on pages.
#[rustfmt::skip]
pub(crate) const HEADINGS: &[&str] = &[
    "Background", "Goals", "Non-goals", "Context", "Decision", "Consequences", "Steps", "Rollback",
    "Timeline", "Impact", "Root cause", "Action items", "Open questions", "Owners", "Risks",
    "Alternatives considered", "Monitoring", "Testing", "Rollout plan", "References",
];

/// Version messages on page edits.
#[rustfmt::skip]
pub(crate) const EDIT_MESSAGES: &[&str] = &[
    "", "Fix typos", "Add details", "Update owners", "Clarify steps", "Link the ticket",
    "Review comments", "Refresh numbers",
];

/// SplitMix64: tiny, fast and the same on every platform and release, so generated data is
/// reproducible (rand's `StdRng` makes no such promise across versions).
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True `percent` times in a hundred.
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// Any item, uniformly.
    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }

    /// An item, the first ones much more often than the last (a rough Zipf curve).
    pub(crate) fn skewed<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let idx = (u * u * items.len() as f64) as usize;
        items
            .get(idx.min(items.len().saturating_sub(1)))
            .copied()
            .unwrap_or("")
    }

    /// An index chosen by `weights`.
    pub(crate) fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut roll = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if roll < *w {
                return i;
            }
            roll -= w;
        }
        0
    }

    /// One sentence of issue or page prose.
    pub(crate) fn sentence(&mut self) -> String {
        let (n1, n2, n3) = (self.skewed(NOUNS), self.skewed(NOUNS), self.skewed(NOUNS));
        let adj = self.skewed(ADJECTIVES);
        let ctx = self.pick(CONTEXTS);
        match self.below(12) {
            0 => format!("The {adj} {n1} {} {ctx}.", self.pick(VERBS_3S)),
            1 => format!("We should {} the {n1} {n2} {ctx}.", self.skewed(VERBS)),
            2 => format!("Users report that the {n1} is {adj} {ctx}."),
            3 => format!(
                "Steps to reproduce: open the {n1}, {} the {n2}, then check the {n3}.",
                self.skewed(VERBS)
            ),
            4 => format!(
                "Expected the {n1} to keep the {n2}; instead it {}.",
                self.pick(VERBS_3S)
            ),
            5 => format!(
                "This blocks the {n1} work {} planned for {}.",
                self.pick(TEAMS),
                self.pick(MONTHS)
            ),
            6 => format!("Root cause looks like a {adj} {n1} in the {n2} {n3}."),
            7 => format!(
                "Acceptance: the {n1} answers within {} ms and the {n2} stays {adj}.",
                self.range(5, 900)
            ),
            8 => format!(
                "{} asked whether the {n1} can {} the {n2} {ctx}.",
                capitalize(self.pick(TEAMS)),
                self.skewed(VERBS)
            ),
            9 => format!(
                "The {n1} {n2} has been {adj} since {}, about {} times a day.",
                self.pick(MONTHS),
                self.range(2, 400)
            ),
            10 => format!("See the {n1} dashboard and the {n2} logs for details."),
            _ => format!(
                "Once the {n1} is {adj}, we can {} the {n2} and close this.",
                self.skewed(VERBS)
            ),
        }
    }

    /// Several sentences as one paragraph.
    pub(crate) fn paragraph(&mut self, min: usize, max: usize) -> String {
        let n = self.range(min, max);
        (0..n)
            .map(|_| self.sentence())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An issue summary: a task, or a bug's symptom.
    pub(crate) fn summary(&mut self, bug: bool) -> String {
        let (n1, n2) = (self.skewed(NOUNS), self.skewed(NOUNS));
        let adj = self.skewed(ADJECTIVES);
        let ctx = self.pick(CONTEXTS);
        let s = if bug {
            match self.below(3) {
                0 => format!("{adj} {n1} {} {ctx}", self.pick(VERBS_3S)),
                1 => format!("{n1} {n2} {} {ctx}", self.pick(VERBS_3S)),
                _ => format!("{n1} {} when the {n2} is {adj}", self.pick(VERBS_3S)),
            }
        } else {
            match self.below(3) {
                0 => format!("{} the {adj} {n1} {ctx}", self.skewed(VERBS)),
                1 => format!("{} {n1} {n2}", self.skewed(VERBS)),
                _ => format!("{} the {n1} for the {adj} {n2}", self.skewed(VERBS)),
            }
        };
        capitalize(&s)
    }

    /// A page title (not yet made unique).
    pub(crate) fn title(&mut self) -> String {
        let topic = format!(
            "{} {}",
            capitalize(self.skewed(ADJECTIVES)),
            capitalize(self.skewed(NOUNS))
        );
        format!("{topic} {}", self.pick(PAGE_KINDS))
    }
}

/// The text with its first letter upper-cased.
pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

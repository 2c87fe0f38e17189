//! Tests of the ranked local search, and its timing over 10,000 issues + 2,000 pages
//! (`cargo test --release --lib cache:: -- --ignored --nocapture`).

use super::*;
use crate::cache::store::tests::{issue, page, temp_cache};
use crate::cache::{Cache, CommentRecord};

fn query(text: &str) -> LocalQuery {
    LocalQuery {
        text: text.into(),
        jira: true,
        confluence: true,
        limit: 10,
    }
}

fn ids(cache: &Cache, text: &str, confine: &Confine) -> Vec<String> {
    cache
        .local_search(&query(text), confine)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn sample() -> (tempfile::TempDir, Cache) {
    let (dir, cache) = temp_cache(1 << 30);
    let mut commented = issue("OPS-3", "Rotate certificates", "yearly chore");
    commented.comments = Some(vec![CommentRecord {
        author: "Ada".into(),
        created: None,
        body: "the payment gateway needs this too".into(),
    }]);
    cache
        .put_issues(&[
            issue(
                "ENG-1",
                "Payment gateway timeout",
                "Requests to the gateway time out after 30s.",
            ),
            issue(
                "ENG-2",
                "Upgrade libraries",
                "Bump the payment SDK; the gateway client is old.",
            ),
            issue(
                "ENG-12",
                "Login fails on Safari",
                "See ENG-1 for the related gateway issue.",
            ),
            commented,
        ])
        .unwrap();
    cache
        .put_pages(&[
            page(
                "100",
                "DOCS",
                "Payment gateway runbook",
                "How to restart the gateway.",
            ),
            page(
                "101",
                "HR",
                "Holiday policy",
                "Days off and the payment of overtime.",
            ),
        ])
        .unwrap();
    (dir, cache)
}

#[test]
fn a_title_match_ranks_above_a_body_only_match() {
    let (_dir, cache) = sample();
    let hits = cache
        .local_search(&query("payment gateway"), &Confine::default())
        .unwrap();
    let order: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    // Both words in the title/summary first; body-only and comment-only matches after.
    let title_first: Vec<&str> = order[..2].to_vec();
    assert!(
        title_first.contains(&"ENG-1") && title_first.contains(&"100"),
        "{order:?}"
    );
    assert!(
        order.contains(&"ENG-2") && order.contains(&"OPS-3"),
        "{order:?}"
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits.iter().all(|h| h.score > 0.0));
    let page = hits.iter().find(|h| h.id == "100").unwrap();
    assert_eq!(
        (page.kind, page.scope.as_str(), page.status.clone()),
        (HitKind::Page, "DOCS", None)
    );
    let eng1 = hits.iter().find(|h| h.id == "ENG-1").unwrap();
    assert_eq!(eng1.kind, HitKind::Issue);
    assert_eq!(
        (eng1.title.as_str(), eng1.status.as_deref()),
        ("Payment gateway timeout", Some("To Do"))
    );
    assert_eq!(eng1.fetched_at, 1_000);
    assert_eq!(
        eng1.updated.as_deref(),
        Some("2026-01-02T03:04:05.000+0000")
    );
}

#[test]
fn snippets_bold_the_matched_words() {
    let (_dir, cache) = sample();
    let hits = cache
        .local_search(&query("restart"), &Confine::default())
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].snippet, "How to **restart** the gateway.");
    let hits = cache
        .local_search(&query("overtime"), &Confine::default())
        .unwrap();
    assert!(
        hits[0].snippet.contains("**overtime**"),
        "{:?}",
        hits[0].snippet
    );
}

#[test]
fn confinement_applies_to_both_kinds() {
    let (_dir, cache) = sample();
    let confine = Confine {
        projects: Some(vec!["ops".into()]),
        spaces: Some(vec!["hr".into()]),
    };
    let mut found = ids(&cache, "payment", &confine);
    found.sort();
    assert_eq!(found, vec!["101", "OPS-3"]);
    assert_eq!(ids(&cache, "ENG-12", &confine), Vec::<String>::new());
    let nothing = Confine {
        projects: Some(vec![]),
        spaces: Some(vec![]),
    };
    assert!(ids(&cache, "payment", &nothing).is_empty());
}

#[test]
fn kinds_and_limit_are_honoured() {
    let (_dir, cache) = sample();
    let only_pages = LocalQuery {
        jira: false,
        ..query("payment")
    };
    let hits = cache
        .local_search(&only_pages, &Confine::default())
        .unwrap();
    assert!(hits.iter().all(|h| h.kind == HitKind::Page) && hits.len() == 2);
    let one = LocalQuery {
        limit: 1,
        ..query("payment")
    };
    assert_eq!(
        cache.local_search(&one, &Confine::default()).unwrap().len(),
        1
    );
    let none = LocalQuery {
        jira: false,
        confluence: false,
        ..query("payment")
    };
    assert!(
        cache
            .local_search(&none, &Confine::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_issue_key_finds_that_issue_first() {
    let (_dir, cache) = sample();
    let found = ids(&cache, "eng-1", &Confine::default());
    // ENG-1 itself, then ENG-12 whose description mentions it.
    assert_eq!(found, vec!["ENG-1", "ENG-12"]);
    assert_eq!(ids(&cache, "ENG-12", &Confine::default())[0], "ENG-12");
    let hits = cache
        .local_search(&query("ENG-12"), &Confine::default())
        .unwrap();
    assert_eq!(hits[0].snippet, "See ENG-1 for the related gateway issue.");
    assert_eq!(
        ids(&cache, "ENG-404", &Confine::default()),
        Vec::<String>::new()
    );
}

#[test]
fn all_words_must_match_else_any_word_does() {
    let (_dir, cache) = sample();
    assert_eq!(
        ids(&cache, "safari login", &Confine::default()),
        vec!["ENG-12"]
    );
    // No item has both: the closest items still come back.
    let mut found = ids(&cache, "safari certificates", &Confine::default());
    found.sort();
    assert_eq!(found, vec!["ENG-12", "OPS-3"]);
}

#[test]
fn quoted_phrases_stay_phrases() {
    let (_dir, cache) = sample();
    assert_eq!(
        ids(&cache, "\"restart the gateway\"", &Confine::default()),
        vec!["100"]
    );
    assert!(ids(&cache, "\"gateway restart\"", &Confine::default()).is_empty());
}

#[test]
fn odd_input_never_errors() {
    let (_dir, cache) = sample();
    for text in [
        "",
        " ",
        "\"",
        "\"\"",
        "*",
        "**",
        "AND",
        "OR",
        "NOT",
        "NEAR(",
        "NEAR(a b)",
        "a AND",
        "payment*",
        "\"payment",
        "gate\"way",
        "(",
        ")",
        "-",
        "^",
        ":",
        "title:payment",
        "{a b}",
        "'",
        "\\",
        "\u{0}",
        "ß",
        "Ünïcödé",
        "日本語",
        "🙂",
        "a\u{301}",
        "\u{93e}",
        "payment -gateway",
        "+1",
        "ENG-",
        "-12",
        "ENG-12-3",
        "x\"y\"z\"",
    ] {
        let result = cache.local_search(&query(text), &Confine::default());
        assert!(result.is_ok(), "{text:?}: {result:?}");
    }
    assert!(ids(&cache, "", &Confine::default()).is_empty());
    assert!(ids(&cache, "*** ???", &Confine::default()).is_empty());
    // Operators are words: `NEAR(` is the word "near", found nowhere, so any word may match.
    assert_eq!(
        ids(&cache, "NEAR( restart", &Confine::default()),
        vec!["100"]
    );
    assert_eq!(
        ids(&cache, "payment* restart", &Confine::default()),
        vec!["100"]
    );
    assert!(ids(&cache, "payment AND restart", &Confine::default()).contains(&"100".into()));
}

#[test]
fn diacritics_and_case_are_ignored() {
    let (dir, cache) = temp_cache(1 << 30);
    cache
        .put_issues(&[issue("ENG-1", "Café ÜBER", "naïve résumé")])
        .unwrap();
    assert_eq!(ids(&cache, "cafe uber", &Confine::default()), vec!["ENG-1"]);
    assert_eq!(
        ids(&cache, "NAIVE Resume", &Confine::default()),
        vec!["ENG-1"]
    );
    drop(dir);
}

#[test]
fn a_restored_item_is_found_by_its_new_words_only() {
    let (_dir, cache) = temp_cache(1 << 30);
    let all = Confine::default();
    let put = |summary: &str, description: &str, comment: Option<&str>| {
        let mut r = issue("ENG-1", summary, description);
        r.comments = Some(
            comment
                .map(|body| CommentRecord {
                    author: "a".into(),
                    created: None,
                    body: body.into(),
                })
                .into_iter()
                .collect(),
        );
        cache.put_issues(&[r]).unwrap();
    };
    put("kiwi", "apple", None);
    put("kiwi", "apple", None); // unchanged (a repeat sync): the index stays as it is
    assert_eq!(ids(&cache, "kiwi apple", &all), vec!["ENG-1"]);
    put("mango", "apple", None);
    assert_eq!(
        (
            ids(&cache, "kiwi", &all).len(),
            ids(&cache, "mango apple", &all).len()
        ),
        (0, 1)
    );
    put("mango", "cherry", None);
    assert_eq!(
        (
            ids(&cache, "apple", &all).len(),
            ids(&cache, "mango cherry", &all).len()
        ),
        (0, 1)
    );
    put("mango", "cherry", Some("lime"));
    assert_eq!(ids(&cache, "lime", &all), vec!["ENG-1"]);
    let put = |title: &str, body: &str| cache.put_pages(&[page("1", "DOCS", title, body)]).unwrap();
    put("plum", "pear");
    put("plum", "pear");
    assert_eq!(ids(&cache, "plum pear", &all), vec!["1"]);
    put("fig", "pear");
    assert_eq!(
        (
            ids(&cache, "plum", &all).len(),
            ids(&cache, "fig pear", &all).len()
        ),
        (0, 1)
    );
    put("fig", "date");
    assert_eq!(
        (
            ids(&cache, "pear", &all).len(),
            ids(&cache, "fig date", &all).len()
        ),
        (0, 1)
    );
}

#[test]
fn terms_quote_words_and_keep_phrases() {
    assert_eq!(terms("a  \"b c\"  d"), vec!["a", "b c", "d"]);
    assert_eq!(terms("\"open"), vec!["open"]);
    assert_eq!(terms("* ( ) \" \""), Vec::<String>::new());
    assert!(looks_like_key("eng-12") && looks_like_key("A_1-3"));
    assert!(!looks_like_key("12-3") && !looks_like_key("ENG-") && !looks_like_key("ENG-1a"));
}

/// A deterministic generator (no seeds to manage).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }

    /// Words with a skewed distribution (some common, most rare), like real text.
    fn words(&mut self, vocab: &[String], n: usize) -> String {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let bucket = self.next(vocab.len());
            out.push(vocab[self.next(bucket + 1)].as_str());
        }
        out.join(" ")
    }
}

#[test]
#[ignore = "timing: run with --release -- --ignored --nocapture"]
fn local_search_over_ten_thousand_issues_and_two_thousand_pages() {
    let (_dir, cache) = temp_cache(1 << 40);
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "ze", "shi", "pa", "do", "ge",
    ];
    let vocab: Vec<String> = (0..3_000)
        .map(|i| {
            let (a, b, c) = (i % 12, (i / 12) % 12, (i / 144) % 21);
            format!(
                "{}{}{}",
                syllables[a],
                syllables[b],
                if c == 0 {
                    String::new()
                } else {
                    syllables[c % 12].to_string()
                }
            )
        })
        .collect();
    let mut rng = Lcg(42);
    let started = std::time::Instant::now();
    for chunk in 0..20 {
        let records: Vec<_> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i + 1;
                let project = ["ENG", "OPS", "WEB", "DATA"][n % 4];
                let mut r = issue(
                    &format!("{project}-{n}"),
                    &rng.words(&vocab, 8),
                    &rng.words(&vocab, 150),
                );
                r.comments = Some(
                    (0..3)
                        .map(|_| CommentRecord {
                            author: "a".into(),
                            created: None,
                            body: rng.words(&vocab, 40),
                        })
                        .collect(),
                );
                r
            })
            .collect();
        cache.put_issues(&records).unwrap();
    }
    let issues_took = started.elapsed();
    for chunk in 0..4 {
        let records: Vec<_> = (0..500)
            .map(|i| {
                page(
                    &(chunk * 500 + i).to_string(),
                    "DOCS",
                    &rng.words(&vocab, 5),
                    &rng.words(&vocab, 600),
                )
            })
            .collect();
        cache.put_pages(&records).unwrap();
    }
    eprintln!(
        "stored 10,000 issues in {issues_took:?}, then 2,000 pages in {:?}",
        started.elapsed() - issues_took
    );
    let confine = Confine {
        projects: Some(vec!["ENG".into(), "OPS".into(), "WEB".into()]),
        spaces: None,
    };
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..50 {
        // One to three words, common and rare; every fifth a key, every seventh confined.
        let words = 1 + q % 3;
        let mut text = rng.words(&vocab, words);
        if q % 5 == 0 {
            text = format!("ENG-{} {}", 1 + rng.next(10_000), rng.words(&vocab, 1));
        }
        let all = Confine::default();
        let confine = if q % 7 == 0 { &confine } else { &all };
        let lq = LocalQuery {
            text,
            jira: true,
            confluence: true,
            limit: 20,
        };
        let t = std::time::Instant::now();
        let n = cache.local_search(&lq, confine).unwrap().len();
        found += n;
        times.push(t.elapsed());
        if std::env::var_os("CACHE_BENCH_VERBOSE").is_some() {
            eprintln!("{:>10.2?} {n:>3} hits  {:?}", t.elapsed(), lq.text);
        }
    }
    times.sort();
    eprintln!(
        "local_search over 10,000 issues + 2,000 pages: median {:?}, p90 {:?}, max {:?} ({found} hits in 50 queries)",
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() - 1]
    );
}

//! `completion/complete`: issue keys, page ids and titles, and project keys completed as the
//! person types a resource-template or prompt argument.
//!
//! Every completion that asks Atlassian goes through policy like the search tool it stands for
//! (`jira_search`, `confluence_search`, `jira_list_projects`), is confined to the allowlisted
//! projects and spaces, and leaves one audit record (event `completion`).

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::json;

use super::resources::{ISSUE_PREFIX, PAGE_PREFIX};
use super::{BridgeServer, CallCx, ToolError};

/// At most this many values go back (the MCP limit is 100; a person reads a short list).
const MAX_VALUES: usize = 20;
/// Longer typed values complete to nothing.
const MAX_TYPED: usize = 200;
/// How many candidates are fetched to filter from.
const FETCH: u32 = 50;

/// What an argument completes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Issue keys (`ENG-12`).
    IssueKey,
    /// Page ids, matched by title.
    PageId,
    /// Page titles.
    PageTitle,
    /// Project keys.
    ProjectKey,
}

/// Which kind of value a reference's argument takes, if we complete it.
pub fn kind_of(reference: &Reference, argument: &str) -> Option<Kind> {
    match reference {
        Reference::Resource(r)
            if r.uri == format!("{ISSUE_PREFIX}{{key}}") && argument == "key" =>
        {
            Some(Kind::IssueKey)
        }
        Reference::Resource(r) if r.uri == format!("{PAGE_PREFIX}{{id}}") && argument == "id" => {
            Some(Kind::PageId)
        }
        Reference::Prompt(p) => {
            let declared = super::prompts::PROMPTS
                .iter()
                .find(|info| info.name == p.name)
                .is_some_and(|info| info.arguments.iter().any(|(name, _, _)| *name == argument));
            match argument {
                "project" if declared => Some(Kind::ProjectKey),
                "page" if declared => Some(Kind::PageTitle),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The JQL that finds issues for what has been typed so far.
///
/// `ENG-1` → issues of ENG (filtered by key prefix afterwards); `ENG` or `en` → issues of
/// projects whose key starts with it (the caller supplies those keys); other text → a summary
/// search; nothing → recently updated issues.
pub fn issue_jql(typed: &str, matching_projects: &[String]) -> String {
    let typed = typed.trim();
    if typed.is_empty() {
        return "updated >= -30d ORDER BY updated DESC".to_string();
    }
    if let Some((project, _)) = typed.split_once('-')
        && is_project_key(project)
    {
        return format!(
            "project = \"{}\" ORDER BY updated DESC",
            project.to_uppercase()
        );
    }
    if is_project_key(typed) && !matching_projects.is_empty() {
        let list: Vec<String> = matching_projects
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect();
        return format!("project in ({}) ORDER BY updated DESC", list.join(", "));
    }
    format!("summary ~ \"{}\" ORDER BY updated DESC", quote(typed))
}

/// The CQL that finds pages whose title matches what has been typed so far.
pub fn page_cql(typed: &str) -> String {
    let typed = typed.trim();
    if typed.is_empty() {
        "type = page ORDER BY lastmodified DESC".to_string()
    } else {
        format!(
            "type = page AND title ~ \"{}*\" ORDER BY lastmodified DESC",
            quote(typed)
        )
    }
}

fn is_project_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escapes a typed value for a quoted JQL/CQL string (quotes and backslashes; query
/// metacharacters that would make the search itself fail are dropped).
fn quote(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | '*' | '?' | '~'))
        .take(100)
        .collect()
}

/// Keeps the values that start with (or, failing that, contain) what was typed, case
/// insensitively, first-seen order, at most [`MAX_VALUES`].
pub fn narrow(values: Vec<String>, typed: &str) -> (Vec<String>, bool) {
    let pairs = values.into_iter().map(|v| (v.clone(), v)).collect();
    narrow_by(pairs, typed)
}

/// [`narrow`] on `(value, label)` pairs, matching the label and returning the values (page
/// ids matched by their titles).
pub fn narrow_by(items: Vec<(String, String)>, typed: &str) -> (Vec<String>, bool) {
    let typed = typed.trim().to_lowercase();
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<(String, String)> = items
        .into_iter()
        .filter(|(v, _)| seen.insert(v.clone()))
        .collect();
    let starts = |(_, l): &&(String, String)| l.to_lowercase().starts_with(&typed);
    let kept: Vec<String> = if unique.iter().any(|i| starts(&i)) {
        unique
            .iter()
            .filter(starts)
            .map(|(v, _)| v.clone())
            .collect()
    } else {
        unique
            .iter()
            .filter(|(_, l)| l.to_lowercase().contains(&typed))
            .map(|(v, _)| v.clone())
            .collect()
    };
    let more = kept.len() > MAX_VALUES;
    (kept.into_iter().take(MAX_VALUES).collect(), more)
}

impl BridgeServer {
    /// `completion/complete`.
    pub(crate) async fn complete_argument(
        &self,
        request: CompleteRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.admit_reference(&request.r#ref, context).await?;
        let Some(kind) = kind_of(&request.r#ref, &request.argument.name) else {
            return Ok(CompleteResult::default());
        };
        let tool = match kind {
            Kind::IssueKey => "jira_search",
            Kind::PageId | Kind::PageTitle => "confluence_search",
            Kind::ProjectKey => "jira_list_projects",
        };
        if !self.tool_allowed(tool) {
            return Ok(CompleteResult::default());
        }
        let typed = request.argument.value.clone();
        // Nobody types this much into an argument; do not turn it into a query.
        if typed.chars().count() > MAX_TYPED {
            return Ok(CompleteResult::default());
        }
        let reference = serde_json::to_value(&request.r#ref).unwrap_or_default();
        let args = json!({ "ref": reference, "argument": request.argument.name, "value": typed });
        let (values, more) = self
            .audited("completion", args, context, |cx| async move {
                let pairs =
                    |values: Vec<String>| values.into_iter().map(|v| (v.clone(), v)).collect();
                let found: Vec<(String, String)> = match kind {
                    Kind::IssueKey => pairs(self.issue_keys(&cx, &typed).await?),
                    Kind::PageId => self.pages(&cx, &typed).await?,
                    Kind::PageTitle => {
                        let titles = self.pages(&cx, &typed).await?;
                        titles.into_iter().map(|(_, t)| (t.clone(), t)).collect()
                    }
                    Kind::ProjectKey => pairs(self.project_keys(&cx, &typed).await?),
                };
                let (values, more) = narrow_by(found, &typed);
                if matches!(kind, Kind::PageId | Kind::IssueKey) {
                    cx.touch(values.iter().cloned());
                }
                Ok((values, more))
            })
            .await?;
        let info = CompletionInfo::with_pagination(values, None, more)
            .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    /// The prompt or resource template a completion is for must exist and be visible under
    /// policy; anything else is refused (and audited) like a call to a hidden tool.
    async fn admit_reference(
        &self,
        reference: &Reference,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let known = match reference {
            Reference::Prompt(p) => super::prompts::PROMPTS
                .iter()
                .find(|info| info.name == p.name)
                .map(|info| self.prompt_allowed(info)),
            Reference::Resource(r) => {
                let ours = [
                    format!("{ISSUE_PREFIX}{{key}}"),
                    format!("{PAGE_PREFIX}{{id}}"),
                ];
                ours.contains(&r.uri).then(|| {
                    self.resource_templates()
                        .resource_templates
                        .iter()
                        .any(|t| t.uri_template == r.uri)
                })
            }
            // A reference kind from a later protocol revision.
            _ => None,
        };
        let refusal = match known {
            Some(true) => return Ok(()),
            Some(false) => ToolError::Denied(
                "completion refused: what it completes is not available under this policy"
                    .to_string(),
            ),
            None => ToolError::Invalid(
                "completion for an unknown prompt or resource template; see prompts/list and resources/templates/list"
                    .to_string(),
            ),
        };
        let args = json!({ "ref": serde_json::to_value(reference).unwrap_or_default() });
        self.audited::<(), _>(
            "completion",
            args,
            context,
            |_cx| async move { Err(refusal) },
        )
        .await
    }

    async fn project_keys(&self, cx: &CallCx, typed: &str) -> Result<Vec<String>, ToolError> {
        let state = self.state();
        let allow = state.policy.settings().jira_projects.clone();
        let query = Some(typed.trim()).filter(|q| !q.is_empty());
        let list = state
            .api
            .jira()
            .projects(&cx.trace, query, &allow, FETCH)
            .await?;
        Ok(list
            .projects
            .into_iter()
            .map(|p| p.key)
            .filter(|k| state.policy.project_allowed(k))
            .collect())
    }

    async fn issue_keys(&self, cx: &CallCx, typed: &str) -> Result<Vec<String>, ToolError> {
        let state = self.state();
        let typed = typed.trim();
        let projects = if is_project_key(typed) {
            self.project_keys(cx, "")
                .await?
                .into_iter()
                .filter(|k| k.to_lowercase().starts_with(&typed.to_lowercase()))
                .collect()
        } else {
            Vec::new()
        };
        let jql = state.policy.admit_jql(&issue_jql(typed, &projects))?;
        let page = match state
            .api
            .jira()
            .search(&cx.trace, &jql, &[], FETCH, None)
            .await
        {
            Ok(page) => page,
            // Half-typed input can name a project that does not exist: no suggestions.
            Err(e) if e.status() == Some(400) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(page
            .issues
            .into_iter()
            .filter(|i| state.policy.issue_visible(&i.key, i.project_key.as_deref()))
            .map(|i| i.key)
            .collect())
    }

    /// Pages whose title matches, as `(id, title)`.
    async fn pages(&self, cx: &CallCx, typed: &str) -> Result<Vec<(String, String)>, ToolError> {
        let state = self.state();
        let cql = state.policy.admit_cql(&page_cql(typed))?;
        let found = match state
            .api
            .confluence()
            .search(&cx.trace, &cql, FETCH, None)
            .await
        {
            Ok(found) => found,
            Err(e) if e.status() == Some(400) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let hits = found.results.into_iter().filter(|h| {
            h.space
                .as_deref()
                .is_none_or(|s| state.policy.space_allowed(s))
        });
        Ok(hits.filter_map(|h| Some((h.id?, h.title))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::Reference;

    #[test]
    fn jql_follows_what_was_typed() {
        assert_eq!(issue_jql("", &[]), "updated >= -30d ORDER BY updated DESC");
        assert_eq!(
            issue_jql("eng-4", &[]),
            "project = \"ENG\" ORDER BY updated DESC"
        );
        assert_eq!(
            issue_jql("en", &["ENG".into(), "ENV".into()]),
            "project in (\"ENG\", \"ENV\") ORDER BY updated DESC"
        );
        assert_eq!(
            issue_jql("login \"bug\"", &[]),
            "summary ~ \"login bug\" ORDER BY updated DESC"
        );
        assert_eq!(
            page_cql("Arch"),
            "type = page AND title ~ \"Arch*\" ORDER BY lastmodified DESC"
        );
    }

    #[test]
    fn narrowing_prefers_prefixes_and_caps() {
        let (v, more) = narrow(
            vec![
                "ENG-12".into(),
                "OPS-1".into(),
                "ENG-1".into(),
                "ENG-1".into(),
            ],
            "eng-1",
        );
        assert_eq!(v, vec!["ENG-12", "ENG-1"]);
        assert!(!more);
        let many: Vec<String> = (0..30).map(|i| format!("ENG-{i}")).collect();
        let (v, more) = narrow(many, "");
        assert_eq!(v.len(), MAX_VALUES);
        assert!(more);
        let (v, _) = narrow(vec!["Architecture overview".into()], "overview");
        assert_eq!(v, vec!["Architecture overview"]);
    }

    #[test]
    fn kinds() {
        let issue = Reference::for_resource("jira://issue/{key}");
        assert_eq!(kind_of(&issue, "key"), Some(Kind::IssueKey));
        assert_eq!(kind_of(&issue, "id"), None);
        let prompt = Reference::for_prompt("weekly_project_report");
        assert_eq!(kind_of(&prompt, "project"), Some(Kind::ProjectKey));
        assert_eq!(
            kind_of(&prompt, "page"),
            None,
            "not an argument of that prompt"
        );
        let explain = Reference::for_prompt("explain_page");
        assert_eq!(kind_of(&explain, "page"), Some(Kind::PageTitle));
        assert_eq!(kind_of(&Reference::for_prompt("nope"), "project"), None);
        assert_eq!(
            kind_of(&Reference::for_resource("confluence://page/{id}"), "id"),
            Some(Kind::PageId)
        );
    }
}

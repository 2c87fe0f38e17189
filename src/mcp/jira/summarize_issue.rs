//! `jira_summarize_issue`: a digest of one issue built locally (fields, the description trimmed
//! to `max_words`, the latest comments, notable changes), plus a prose summary from the client's
//! own model when the client offers MCP sampling.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::handler::server::tool::{Extension, InputResponses, RequestState, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

use crate::atlassian::jira::IssueInclude;
use crate::mcp::args::{bounded, count_schema, opt_u32};
use crate::mcp::digest::issue::{self, COMMENT_LIMIT, IssueDigest};
use crate::mcp::digest::{DEFAULT_MAX_WORDS, MAX_MAX_WORDS};
use crate::mcp::offline::{Served, Why, issue_from_record};
use crate::mcp::render::Render;
use crate::mcp::sampling::{self, ModelSummary};
use crate::mcp::{BridgeServer, CallCx, ToolError};

/// Arguments of `jira_summarize_issue`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeIssueArgs {
    /// Issue key (`ENG-42`) or a link to it.
    pub key: String,
    /// Most words of the description to keep, cut at a sentence boundary. Fields, comments
    /// and changes do not count.
    #[serde(default, deserialize_with = "opt_u32")]
    #[schemars(range(min = 1, max = MAX_MAX_WORDS), extend("default" = DEFAULT_MAX_WORDS), transform = count_schema)]
    pub max_words: Option<u32>,
}

/// Result of `jira_summarize_issue`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueSummaryOut {
    /// The digest, built locally from the issue (no model involved).
    pub digest: IssueDigest,
    /// The client's model's prose summary of the digest, when the client offers sampling.
    #[serde(flatten)]
    pub model: ModelSummary,
}

impl Render for IssueSummaryOut {
    fn render(&self) -> String {
        format!(
            "Digest (built locally)\n{}{}",
            self.digest.render(),
            self.model.render()
        )
    }
}

#[tool_router(router = jira_summarize_issue_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "jira_summarize_issue",
        description = "Summarize a Jira issue: a local digest (status, people, dates, links, description within max_words, latest comments and changes) plus, if your client offers sampling, a short prose summary by its model.",
        annotations(title = "Summarize a Jira issue", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true),
        output_schema = schema_for_output::<IssueSummaryOut>()
    )]
    pub(crate) async fn jira_summarize_issue(
        &self,
        Parameters(args): Parameters<SummarizeIssueArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
        RequestState(state): RequestState,
    ) -> CallToolResponse {
        cx.finish(
            self.summarize_issue_impl(&cx, &context, answers.as_ref(), state.as_deref(), args)
                .await,
        )
    }
}

impl BridgeServer {
    async fn summarize_issue_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        request_state: Option<&str>,
        args: SummarizeIssueArgs,
    ) -> Result<Served<IssueSummaryOut>, ToolError> {
        let state = self.state();
        let key = super::issue_key_on(state.api.site(), &args.key)?;
        state.policy.admit_issue(&key)?;
        let max_words = bounded(
            args.max_words,
            DEFAULT_MAX_WORDS,
            MAX_MAX_WORDS,
            "max_words",
        )? as usize;
        let (digest, as_of) = match self.offline_only() {
            Some(why) => self.issue_digest_offline(cx, &key, max_words, &why).await?,
            None => match self.issue_digest_online(cx, &key, max_words).await {
                Ok(d) => (d, None),
                Err(e) => match self.fallback(&e) {
                    Some(why) => self.issue_digest_offline(cx, &key, max_words, &why).await?,
                    None => return Err(e),
                },
            },
        };
        let what = format!("Jira issue {}", digest.key);
        let subject = sampling::Subject {
            tool: "jira_summarize_issue",
            id: &digest.key,
            what: &what,
        };
        let model = sampling::summarize(context, answers, request_state, subject, &digest).await?;
        Ok(Served {
            out: IssueSummaryOut { digest, model },
            as_of,
        })
    }

    async fn issue_digest_offline(
        &self,
        cx: &CallCx,
        key: &str,
        max_words: usize,
        why: &Why,
    ) -> Result<(IssueDigest, Option<i64>), ToolError> {
        let cached = self.cached_issue(cx, key, why).await?;
        let (detail, comments) = issue_from_record(&cached.record);
        let url = cached
            .record
            .url
            .clone()
            .unwrap_or_else(|| self.state().api.issue_url(key));
        let digest = issue::build(&detail, &comments, url, max_words, |k| {
            self.state().policy.admit_issue(k).is_ok()
        });
        Ok((digest, Some(cached.fetched_at)))
    }

    async fn issue_digest_online(
        &self,
        cx: &CallCx,
        key: &str,
        max_words: usize,
    ) -> Result<IssueDigest, ToolError> {
        let state = self.state();
        let jira = state.api.jira();
        let detail = jira
            .issue(
                &cx.trace,
                key,
                IssueInclude {
                    changelog: true,
                    transitions: false,
                },
            )
            .await
            .map_err(ToolError::naming(key))?;
        // The key may have resolved to a moved issue: check the project it is in now, before
        // anything else is fetched from it.
        state
            .policy
            .admit_fetched_issue(key, detail.issue.project_key.as_deref())?;
        let comments = jira
            .latest_comments(&cx.trace, &detail.issue.key, COMMENT_LIMIT)
            .await?;
        cx.touch([detail.issue.key.clone()]);
        self.keep_issues(vec![detail.issue.clone()], true, Some(comments.clone()));
        Ok(issue::build(
            &detail,
            &comments,
            state.api.issue_url(&detail.issue.key),
            max_words,
            |k| state.policy.admit_issue(k).is_ok(),
        ))
    }
}

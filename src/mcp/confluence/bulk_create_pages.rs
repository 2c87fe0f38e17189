//! `confluence_bulk_create_pages`: a tree of pages in one call — validated first (references,
//! cycles, duplicate titles), one confirmation, parents before children with a few siblings in
//! flight, children of a page that was not created reported as `skipped`, and a journal so a
//! call cut short can be finished with the same `operation_id` without duplicates.
//!
//! A page whose create answer was lost is looked up by its title in the space before it is sent
//! again: Confluence titles are unique within a space, so the title is the page's natural key.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use rmcp::handler::server::tool::{Extension, InputResponses, schema_for_output};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResponse;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{page_id, target_space};
use crate::convert;
use crate::journal::{ItemRecord, JournalEntry};
use crate::mcp::bulk::{
    BulkItem, BulkOut, IN_FLIGHT, Opened, conclude, fingerprint, in_doubt, journal_error, lock,
    open_operation, operation_id, progress, unknown_outcome,
};
use crate::mcp::confirm::confirm;
use crate::mcp::{BridgeServer, CallCx, ToolError};

const TOOL: &str = "confluence_bulk_create_pages";

/// One page of the tree.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    /// Your name for this page, so other items can name it as `parent_ref`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Title (unique within the space).
    pub title: String,
    /// Body in Markdown.
    pub body: String,
    /// The `ref` of the page (in this call) to create it under.
    #[serde(default)]
    pub parent_ref: Option<String>,
    /// An existing page id to create it under.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// Arguments of `confluence_bulk_create_pages`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPagesArgs {
    /// Space key, e.g. `ENG`.
    pub space: String,
    /// The pages; parents may come after children in the list.
    pub pages: Vec<PageInput>,
    /// Validate and show what would be sent, without sending.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Repeat the id of an interrupted call to finish it without duplicates; omit for a new one.
    #[serde(default)]
    pub operation_id: Option<String>,
}

#[tool_router(router = confluence_bulk_create_pages_router, vis = "pub(crate)")]
impl BridgeServer {
    #[tool(
        name = "confluence_bulk_create_pages",
        description = "Create a tree of Confluence pages (Markdown) in one call: parents before children, one result per page, children of a failed page skipped. If interrupted, call again with the returned operation_id: only what is missing is created.",
        annotations(title = "Create Confluence pages in bulk", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true),
        output_schema = schema_for_output::<BulkOut>()
    )]
    pub(crate) async fn confluence_bulk_create_pages(
        &self,
        Parameters(args): Parameters<BulkPagesArgs>,
        Extension(cx): Extension<Arc<CallCx>>,
        context: RequestContext<RoleServer>,
        InputResponses(answers): InputResponses,
    ) -> CallToolResponse {
        cx.finish(
            self.bulk_pages_impl(&cx, &context, answers.as_ref(), args)
                .await,
        )
    }
}

/// Checks the tree; returns each page's depth (parents first), or problems per index.
fn plan(pages: &[PageInput]) -> Result<Vec<usize>, Vec<(usize, String)>> {
    let mut problems = Vec::new();
    let mut by_ref: HashMap<&str, usize> = HashMap::new();
    let mut titles: HashMap<String, usize> = HashMap::new();
    for (i, p) in pages.iter().enumerate() {
        let r = p.reference.trim();
        if r.is_empty() {
            problems.push((i, "ref must not be empty".to_string()));
        } else if let Some(j) = by_ref.insert(r, i) {
            problems.push((i, format!("ref `{r}` is also used by #{j}")));
        }
        let t = p.title.trim();
        if t.is_empty() {
            problems.push((i, "title must not be empty".to_string()));
        } else if let Some(j) = titles.insert(t.to_lowercase(), i) {
            problems.push((
                i,
                format!("title “{t}” is also used by #{j}; titles are unique in a space"),
            ));
        }
        if p.parent_ref.is_some() && p.parent_id.is_some() {
            problems.push((i, "give parent_ref or parent_id, not both".to_string()));
        }
        if let Some(id) = &p.parent_id
            && let Err(e) = page_id(id)
        {
            problems.push((i, format!("parent_id: {}", e.message())));
        }
    }
    let depth: Vec<usize> = (0..pages.len())
        .map(|i| {
            let mut at = i;
            let mut d = 0;
            while let Some(parent) = pages[at].parent_ref.as_deref().map(str::trim) {
                let Some(&j) = by_ref.get(parent) else {
                    problems.push((
                        at,
                        format!("parent_ref `{parent}` names no page in this call"),
                    ));
                    break;
                };
                d += 1;
                if j == i || d > pages.len() {
                    problems.push((i, "parent_ref makes a cycle".to_string()));
                    break;
                }
                at = j;
            }
            d
        })
        .collect();
    if problems.is_empty() {
        Ok(depth)
    } else {
        problems.sort();
        problems.dedup();
        Err(problems)
    }
}

fn created(i: usize, id: String) -> ItemRecord {
    ItemRecord {
        i,
        status: "created".into(),
        key: None,
        id: Some(id),
        error: None,
    }
}

impl BridgeServer {
    async fn bulk_pages_impl(
        &self,
        cx: &CallCx,
        context: &RequestContext<RoleServer>,
        answers: Option<&rmcp::model::InputResponses>,
        args: BulkPagesArgs,
    ) -> Result<BulkOut, ToolError> {
        let state = self.state();
        let total = args.pages.len();
        if total == 0 {
            return Err(ToolError::Invalid("pages must not be empty".into()));
        }
        state.policy.admit_bulk(total)?;
        let op = operation_id(args.operation_id.as_deref())?;
        let dry_run = args.dry_run.unwrap_or(false);
        let space = target_space(state, &cx.trace, &args.space).await?;
        let depth = match plan(&args.pages) {
            Ok(d) => d,
            Err(problems) => {
                if dry_run {
                    let mut items: Vec<BulkItem> =
                        (0..total).map(|i| BulkItem::new(i, "valid")).collect();
                    for (i, m) in problems {
                        if let Some(item) = items.get_mut(i) {
                            item.status = "invalid".into();
                            let e = item
                                .error
                                .take()
                                .map(|e| format!("{e}; "))
                                .unwrap_or_default();
                            item.error = Some(format!("{e}{m}"));
                        }
                    }
                    return Ok(BulkOut::new(op, true, false, items));
                }
                let list: Vec<String> =
                    problems.iter().map(|(i, m)| format!("#{i}: {m}")).collect();
                return Err(ToolError::Invalid(format!(
                    "nothing was sent; fix these and call again: {}",
                    list.join(" | ")
                )));
            }
        };
        let storage: Vec<String> = args
            .pages
            .iter()
            .map(|p| convert::markdown_to_storage(&p.body))
            .collect();
        if dry_run {
            let mut out = BulkOut::new(
                op,
                true,
                false,
                (0..total).map(|i| BulkItem::new(i, "valid")).collect(),
            );
            out.requests = Some(
                args.pages
                    .iter()
                    .zip(&storage)
                    .map(|(p, s)| {
                        json!({"space": space.key, "title": p.title.trim(), "parent_ref": p.parent_ref, "parent_id": p.parent_id, "storage": s})
                    })
                    .collect(),
            );
            return Ok(out);
        }
        let fp = fingerprint(&(&space.key, &args.pages));
        let mut operation = match open_operation(&state.journal_dir, &op, TOOL, total, &fp)? {
            Opened::Finished(out) => {
                cx.touch(out.items.iter().filter_map(|i| i.id.clone()));
                return Ok(*out);
            }
            Opened::Run(o) => *o,
        };
        let resumed = !operation.replay.settled.is_empty() || !operation.replay.in_doubt.is_empty();
        let pending = (0..total)
            .filter(|i| {
                !operation
                    .replay
                    .settled
                    .get(i)
                    .is_some_and(ItemRecord::created)
            })
            .count();
        if pending > 0 {
            confirm(
                state,
                context,
                answers,
                &format!(
                    "Create {pending} Confluence page{} in {}?",
                    if pending == 1 { "" } else { "s" },
                    space.key
                ),
            )
            .await?;
        }
        let confluence = state.api.confluence();
        // Pages sent before without a recorded answer: look for them by title.
        let doubtful: Vec<usize> = operation.replay.in_doubt.iter().copied().collect();
        for i in doubtful {
            let title = args.pages[i].title.trim();
            if let Some(found) = confluence
                .find_page_by_title(&cx.trace, &space, title)
                .await?
            {
                let r = created(i, found.id);
                operation
                    .journal
                    .append(&JournalEntry::Result {
                        items: vec![r.clone()],
                    })
                    .map_err(journal_error)?;
                operation.replay.settled.insert(i, r);
            }
            operation.replay.in_doubt.remove(&i);
        }

        let journal = Mutex::new(operation.journal);
        let outcomes: Mutex<BTreeMap<usize, BulkItem>> = Mutex::new(BTreeMap::new());
        let mut ids: HashMap<String, String> = HashMap::new();
        for (i, r) in &operation.replay.settled {
            if let (true, Some(id)) = (r.created(), &r.id) {
                ids.insert(args.pages[*i].reference.trim().to_string(), id.clone());
            }
        }
        let mut settled = total - pending;
        let max_depth = depth.iter().copied().max().unwrap_or(0);
        for level in 0..=max_depth {
            let mut work = Vec::new();
            for i in (0..total).filter(|i| depth[*i] == level) {
                if operation
                    .replay
                    .settled
                    .get(&i)
                    .is_some_and(ItemRecord::created)
                {
                    continue;
                }
                let p = &args.pages[i];
                let parent = match p.parent_ref.as_deref().map(str::trim) {
                    Some(r) => match ids.get(r) {
                        Some(id) => Some(id.clone()),
                        None => {
                            lock(&outcomes)?.insert(
                                i,
                                BulkItem::new(i, "skipped")
                                    .with_error(format!("its parent `{r}` was not created")),
                            );
                            settled += 1;
                            continue;
                        }
                    },
                    None => p.parent_id.as_deref().map(|s| s.trim().to_string()),
                };
                work.push((i, parent));
            }
            let done: Vec<Result<(usize, Option<String>), ToolError>> = futures::stream::iter(work)
                .map(|(i, parent)| {
                    let journal = &journal;
                    let outcomes = &outcomes;
                    let space = &space;
                    let storage = &storage;
                    let title = args.pages[i].title.trim();
                    let ct = context.ct.clone();
                    async move {
                        if ct.is_cancelled() {
                            lock(outcomes)?.insert(
                                i,
                                BulkItem::new(i, "skipped")
                                    .with_error("cancelled before it was sent"),
                            );
                            return Ok((i, None));
                        }
                        lock(journal)?
                            .append(&JournalEntry::Sent { indexes: vec![i] })
                            .map_err(journal_error)?;
                        match confluence
                            .create_page(&cx.trace, space, title, &storage[i], parent.as_deref())
                            .await
                        {
                            Ok(page) => {
                                let r = created(i, page.id.clone());
                                lock(journal)?
                                    .append(&JournalEntry::Result { items: vec![r] })
                                    .map_err(journal_error)?;
                                cx.touch([page.id.clone()]);
                                let mut item = BulkItem::new(i, "created");
                                item.id = Some(page.id.clone());
                                lock(outcomes)?.insert(i, item);
                                Ok((i, Some(page.id)))
                            }
                            Err(e) if in_doubt(&e) => {
                                lock(outcomes)?.insert(
                                    i,
                                    BulkItem::new(i, "failed").with_error(unknown_outcome(&e)),
                                );
                                Ok((i, None))
                            }
                            Err(e) => {
                                let why = e.user_message();
                                lock(journal)?
                                    .append(&JournalEntry::Result {
                                        items: vec![ItemRecord {
                                            i,
                                            status: "failed".into(),
                                            key: None,
                                            id: None,
                                            error: Some(why.clone()),
                                        }],
                                    })
                                    .map_err(journal_error)?;
                                lock(outcomes)?
                                    .insert(i, BulkItem::new(i, "failed").with_error(why));
                                Ok((i, None))
                            }
                        }
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            for r in done {
                let (i, id) = r?;
                settled += 1;
                if let Some(id) = id {
                    ids.insert(args.pages[i].reference.trim().to_string(), id);
                }
                progress(context, settled, total).await;
            }
        }
        conclude(
            cx,
            op,
            resumed,
            total,
            &operation.replay.settled,
            outcomes.into_inner().unwrap_or_default(),
            journal,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(r: &str, title: &str, parent: Option<&str>) -> PageInput {
        PageInput {
            reference: r.into(),
            title: title.into(),
            body: "x".into(),
            parent_ref: parent.map(String::from),
            parent_id: None,
        }
    }

    #[test]
    fn plans_parents_first_and_catches_mistakes() {
        let pages = vec![
            page("c", "Child", Some("a")),
            page("a", "Root", None),
            page("g", "Grandchild", Some("c")),
        ];
        assert_eq!(plan(&pages).unwrap(), vec![1, 0, 2]);
        let bad = vec![
            page("a", "A", Some("b")),
            page("b", "B", Some("a")),
            page("c", "a", Some("zz")),
            page("c", "A", None),
        ];
        let problems = plan(&bad).unwrap_err();
        let text = format!("{problems:?}");
        assert!(text.contains("cycle"), "{text}");
        assert!(text.contains("names no page"), "{text}");
        assert!(text.contains("also used by"), "{text}");
    }
}

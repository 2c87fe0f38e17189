//! Builds the cache's records from what the Atlassian client returned: the one conversion that
//! both `sync` and the tools' write-through use, so a cached item looks the same however it
//! arrived.

use crate::atlassian::confluence::Page;
use crate::atlassian::jira::{Comments, Issue, User};
use crate::cache::{Ancestor, CommentRecord, IssueRecord, LinkRecord, PageRecord, Person};
use crate::convert;

fn person(u: &Option<User>) -> Option<Person> {
    u.as_ref().map(|u| Person {
        id: u.id.clone(),
        name: u.display_name.clone(),
    })
}

/// The project key of an issue: its `project` field, else the key's prefix.
pub fn project_of(issue: &Issue) -> String {
    issue.project_key.clone().unwrap_or_else(|| {
        issue
            .key
            .rsplit_once('-')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    })
}

/// An issue record. `with_description`: the read asked for the description (a missing one is
/// then empty, not unknown); `comments`: the latest comments, when the read fetched them.
pub fn issue_record(
    issue: &Issue,
    url: String,
    with_description: bool,
    comments: Option<&Comments>,
) -> IssueRecord {
    IssueRecord {
        key: issue.key.clone(),
        project: project_of(issue),
        summary: issue.summary.clone().unwrap_or_default(),
        status: issue.status.clone(),
        status_category: issue.status_category.clone(),
        issue_type: issue.issue_type.clone(),
        priority: issue.priority.clone(),
        assignee: person(&issue.assignee),
        reporter: person(&issue.reporter),
        labels: issue.labels.clone(),
        created: issue.created.clone(),
        updated: issue.updated.clone(),
        due: issue.due.clone(),
        resolution: issue.resolution.clone(),
        parent: issue.parent.clone(),
        components: issue.components.clone(),
        subtasks: issue.subtasks.clone(),
        links: issue
            .links
            .iter()
            .map(|l| LinkRecord {
                relation: l.relation.clone(),
                key: l.key.clone(),
                summary: l.summary.clone(),
                status: l.status.clone(),
            })
            .collect(),
        url: Some(url),
        description: with_description.then(|| {
            issue
                .description
                .as_ref()
                .map(|d| d.to_markdown())
                .unwrap_or_default()
        }),
        comments: comments.map(|c| {
            c.comments
                .iter()
                .map(|c| CommentRecord {
                    author: c.author.as_ref().map(User::label).unwrap_or_default(),
                    created: c.created.clone(),
                    body: c.body.as_ref().map(|b| b.to_markdown()).unwrap_or_default(),
                })
                .collect()
        }),
        comment_total: comments.and_then(|c| c.total),
        fetched_at: 0,
        partial: false,
    }
}

/// A page record, or `None` when the page's space key is unknown (the cache files pages by
/// space, and policy confines by it). `names` maps account ids to display names (Cloud pages
/// carry ids only); `links` is how Markdown links are built. The Markdown body is converted
/// here, so callers on a tool's path hand this to the cache's write-behind thread.
pub fn page_record(
    page: &Page,
    names: &std::collections::HashMap<String, String>,
    wiki_base: Option<String>,
) -> Option<PageRecord> {
    let space = page.space_key.clone()?;
    let who = |u: &Option<User>| {
        u.as_ref().and_then(|u| {
            u.display_name
                .clone()
                .or_else(|| u.id.as_ref().and_then(|i| names.get(i).cloned()))
                .or_else(|| u.id.clone())
        })
    };
    let links = convert::StorageLinks {
        users: names.clone(),
        wiki_base,
        space: Some(space.clone()),
    };
    let body = convert::storage_to_markdown_with(&page.storage, &links);
    Some(PageRecord {
        id: page.id.clone(),
        space,
        space_id: page.space_id.clone(),
        title: page.title.clone(),
        kind: "page".to_string(),
        labels: page.labels.clone(),
        ancestors: page
            .parent_id
            .iter()
            .map(|id| Ancestor {
                id: id.clone(),
                title: page.parent_title.clone(),
            })
            .collect(),
        parent_id: page.parent_id.clone(),
        version: page.version,
        author: who(&page.author),
        last_editor: who(&page.last_editor),
        last_modified: page.updated.clone(),
        url: page.url.clone(),
        storage: Some(page.storage.clone()),
        body: Some(body),
        fetched_at: 0,
    })
}

//! Confluence tools, one file per tool (its arguments, output, rendering and handler together),
//! and the small helpers they share.

pub mod bulk_create_pages;
pub mod create_page;
pub mod get_page;
pub mod list_spaces;
pub mod search;
pub mod summarize_page;
pub mod update_page;

use crate::atlassian::CallTrace;
use crate::atlassian::confluence_write::SpaceRef;
use crate::mcp::{State, ToolError};

/// Validates a page id (digits).
pub(crate) fn page_id(raw: &str) -> Result<String, ToolError> {
    let id = raw.trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a page id; page ids are digits, e.g. from confluence_search"
        )));
    }
    Ok(id.to_string())
}

/// A page as agents hold it: an id, or a link to a page on this site — `…/pages/65538/Title`,
/// `…/pages/viewpage.action?pageId=65538`, a tiny link `…/x/AgAB`, or a display link
/// `…/display/ENG/Page+Title` (looked up by space and title). A link to another site is
/// refused (it would name a different page here).
pub(crate) async fn page_ref(
    state: &State,
    trace: &CallTrace,
    raw: &str,
) -> Result<String, ToolError> {
    match page_link(state, raw)? {
        PageLink::Id(id) => Ok(id),
        PageLink::Titled { space, title } => {
            let confluence = state.api.confluence();
            let found = match confluence.space_ref(trace, &space).await? {
                Some(space_ref) => confluence
                    .find_page_by_title(trace, &space_ref, &title)
                    .await?
                    .map(|p| p.id),
                None => None,
            };
            found.ok_or_else(|| {
                ToolError::NotFound(format!(
                    "no page titled \"{}\" in space {space}, or this account cannot see it",
                    title.chars().take(120).collect::<String>()
                ))
            })
        }
    }
}

/// A page argument resolved without asking the site (offline): an id or a link that carries
/// one; a display link (space and title) needs the site.
pub(crate) fn page_ref_offline(state: &State, raw: &str) -> Result<String, ToolError> {
    match page_link(state, raw)? {
        PageLink::Id(id) => Ok(id),
        PageLink::Titled { space, .. } => Err(ToolError::Invalid(format!(
            "a link by title (space {space}) can only be looked up at the site, which is not available; pass the page id (e.g. from confluence_search)"
        ))),
    }
}

/// What a page argument names before anything is asked.
#[derive(Debug, PartialEq, Eq)]
enum PageLink {
    /// A page id.
    Id(String),
    /// A display link: space key and title.
    Titled { space: String, title: String },
}

fn page_link(state: &State, raw: &str) -> Result<PageLink, ToolError> {
    let trimmed = raw.trim();
    let Some(url) = url::Url::parse(trimmed)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    else {
        return page_id(raw).map(PageLink::Id);
    };
    let wiki = state.api.confluence().wiki_base();
    let ours: Vec<String> = [state.api.site().as_str(), wiki.as_str()]
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
        .collect();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let shown: String = trimmed.chars().take(80).collect();
    if !ours.contains(&host) {
        return Err(ToolError::Invalid(format!(
            "`{shown}` links to {host}, not to this site ({}); pass the page id instead",
            state.api.site().as_str().trim_end_matches('/')
        )));
    }
    if let Some(id) = page_id_from_url(&url) {
        return Ok(PageLink::Id(id));
    }
    titled_link(&url).ok_or_else(|| {
        ToolError::Invalid(format!(
            "`{shown}` is not a link to a page; use a page id or a link like …/pages/12345/Title"
        ))
    })
}

/// `…/display/ENG/Page+Title` → space ENG, title "Page Title".
fn titled_link(url: &url::Url) -> Option<PageLink> {
    let segs: Vec<&str> = url.path_segments()?.collect();
    let i = segs.iter().position(|s| *s == "display")?;
    let (space, title) = (segs.get(i + 1)?, segs.get(i + 2)?);
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    Some(PageLink::Titled {
        space: decode(space)?,
        title: decode(title)?,
    })
}

/// The page id in a page link's path or query, or encoded in a tiny link.
fn page_id_from_url(url: &url::Url) -> Option<String> {
    if let Some((_, id)) = url.query_pairs().find(|(k, _)| k == "pageId") {
        return Some(id.to_string()).filter(|i| is_digits(i));
    }
    let segs: Vec<&str> = url.path_segments()?.collect();
    if let Some(i) = segs.iter().position(|s| *s == "pages")
        && let Some(id) = segs.get(i + 1).filter(|s| is_digits(s))
    {
        return Some((*id).to_string());
    }
    if let Some(i) = segs.iter().position(|s| *s == "x")
        && let Some(code) = segs.get(i + 1)
    {
        return tiny_link_id(code).map(|n| n.to_string());
    }
    None
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Decodes a Confluence tiny link code: the page id's little-endian bytes in base64, with
/// `-`/`_` for `/`/`+` and the padding left off.
pub(crate) fn tiny_link_id(code: &str) -> Option<u64> {
    use base64::Engine as _;
    let standard: String = code
        .chars()
        .map(|c| match c {
            '-' => '/',
            '_' => '+',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(standard.trim_end_matches('='))
        .ok()?;
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let mut le = [0u8; 8];
    le[..bytes.len()].copy_from_slice(&bytes);
    Some(u64::from_le_bytes(le)).filter(|n| *n > 0)
}

/// The space a write goes to: allowed by policy and existing.
pub(crate) async fn target_space(
    state: &State,
    trace: &CallTrace,
    raw: &str,
) -> Result<SpaceRef, ToolError> {
    let key = raw.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '~')
    {
        let shown: String = raw.chars().take(60).collect();
        return Err(ToolError::Invalid(format!(
            "`{shown}` is not a space key; expected something like ENG"
        )));
    }
    state.policy.admit_space(key)?;
    state
        .api
        .confluence()
        .space_ref(trace, key)
        .await?
        .ok_or_else(|| {
            ToolError::Invalid(format!(
                "space `{key}` was not found, or this account cannot see it"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_links_decode_to_page_ids() {
        // 65538 = 0x010002: little-endian bytes 02 00 01 → "AgAB".
        assert_eq!(tiny_link_id("AgAB"), Some(65538));
        assert_eq!(tiny_link_id("AgAB="), Some(65538));
        assert_eq!(tiny_link_id(""), None);
        assert_eq!(tiny_link_id("!!"), None);
        assert_eq!(tiny_link_id("AAAAAAAAAAAAAAAA"), None, "more than 8 bytes");
    }

    #[test]
    fn page_links_name_their_page() {
        let id = |u: &str| page_id_from_url(&url::Url::parse(u).unwrap());
        assert_eq!(
            id("https://acme.atlassian.net/wiki/spaces/ENG/pages/100101/Architecture+Overview")
                .as_deref(),
            Some("100101")
        );
        assert_eq!(
            id("https://wiki.corp/pages/viewpage.action?pageId=42").as_deref(),
            Some("42")
        );
        assert_eq!(
            id("https://acme.atlassian.net/wiki/x/AgAB").as_deref(),
            Some("65538")
        );
        assert_eq!(
            id("https://acme.atlassian.net/wiki/spaces/ENG/overview"),
            None
        );
        let titled = |u: &str| titled_link(&url::Url::parse(u).unwrap());
        assert_eq!(
            titled("https://wiki.corp/display/ENG/Meeting+Notes+2026-11-17%3F"),
            Some(PageLink::Titled {
                space: "ENG".into(),
                title: "Meeting Notes 2026-11-17?".into()
            })
        );
        assert_eq!(titled("https://wiki.corp/display/ENG"), None);
    }
}

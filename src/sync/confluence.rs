//! Mirroring one Confluence space: `space = "KEY" AND type = page [AND lastmodified >= "…"]
//! ORDER BY lastmodified ASC` lists what changed; on Cloud the changed pages' bodies come from
//! v2 by id (the listing is v1 search, which carries no bodies), on Data Center with the
//! listing itself. Each listing page is committed with the space's watermark while the next
//! one is fetched.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{Done, Failure, ProgressFn, Run, Scope, ScopeReport, SyncError, Syncer};
use crate::atlassian::CallTrace;
use crate::atlassian::confluence::Page;
use crate::atlassian::mirror::{ListedPage, Mirror, PageListing};
use crate::cache::{Cache, CacheError, Confine, PageRecord, parse_site_time};
use crate::sync::records;

/// The widest UTC offset (+14:00): how far an incremental CQL query reaches back beyond its
/// watermark, since CQL dates are read in the person's time zone.
const CQL_ZONE_SLACK_MS: i64 = 14 * 3_600_000;

/// The state before the run, which every batch compares against.
struct Before {
    /// The watermark's time, Unix ms (`None`: no sync committed yet).
    watermark_ms: Option<i64>,
    /// Page ids cached before the run.
    cached: HashSet<String>,
    /// `--full`: write every page, changed or not.
    full: bool,
}

/// Display names of Cloud account ids learned during the run, and the ids already asked for.
#[derive(Default)]
struct People {
    names: HashMap<String, String>,
    asked: HashSet<String>,
}

/// The CQL that lists a space's pages changed since `since` (all with `None`), oldest first.
pub fn space_cql(space: &str, since: Option<&str>) -> String {
    let window = since
        .map(|s| format!(" AND lastmodified >= {}", super::quoted(s)))
        .unwrap_or_default();
    format!(
        "space = {} AND type = page{window} ORDER BY lastmodified ASC",
        super::quoted(space)
    )
}

/// Which listed pages are new or changed: those not cached, those changed after the
/// watermark, and (not with `--full`, which rewrites everything anyway) those in the overlap
/// whose cached version differs from the listed one.
fn classify(
    cache: &Cache,
    before: &Before,
    listed: &[(String, Option<String>, Option<u64>)],
) -> Result<Vec<bool>, CacheError> {
    listed
        .iter()
        .map(|(id, last_modified, version)| {
            if !before.cached.contains(id) {
                return Ok(true);
            }
            let newer = match (
                before.watermark_ms,
                last_modified.as_deref().and_then(parse_site_time),
            ) {
                (Some(mark), Some(changed)) => changed > mark,
                _ => true,
            };
            if newer {
                return Ok(true);
            }
            if before.full {
                return Ok(false);
            }
            Ok(cache
                .page(id, &Confine::default())?
                .is_none_or(|held| version.is_none() || held.record.version != *version))
        })
        .collect()
}

impl Syncer<'_> {
    /// Mirrors Confluence space `space` into the cache: only pages changed since the last
    /// sync, or (`full`) all of them, dropping cached pages the space no longer has. Refused,
    /// before anything is sent, outside `policy.confluence_spaces`.
    pub async fn sync_space(
        &self,
        space: &str,
        full: bool,
        progress: &ProgressFn<'_>,
    ) -> Result<ScopeReport, SyncError> {
        let run = Run::new(Scope::confluence(space));
        let result = self.space_body(&run, full, progress).await;
        run.finish(result)
    }

    async fn space_body(
        &self,
        run: &Run,
        full: bool,
        progress: &ProgressFn<'_>,
    ) -> Result<Done, Failure> {
        let asked = run.scope().key;
        self.policy.admit_space(&asked)?;
        let mirror = Mirror::new(self.api);
        let trace = CallTrace::new();
        let found = mirror.space(&trace, &asked).await;
        run.add(&trace);
        let Some((key, _)) = found? else {
            return Err(Failure::NotFound(format!(
                "Confluence has no space {asked} that this account can see; check the space key"
            )));
        };
        run.rename(&key);
        self.policy.admit_space(&key)?;
        let watermark = self.cache.watermark("confluence", &key)?;
        let before = Arc::new(Before {
            watermark_ms: watermark.as_ref().map(|w| w.value_ms),
            cached: self.cache.page_ids(&key)?.into_iter().collect(),
            full,
        });
        let since = watermark
            .as_ref()
            .filter(|_| !full)
            // Confluence reports `lastModified` in UTC but reads CQL dates in the person's own
            // time zone, which the watermark does not carry: go back by the widest offset
            // (14 h) so no change is skipped; unchanged pages in the window are only listed.
            .map(|w| super::query_since(&w.value, w.value_ms - CQL_ZONE_SLACK_MS));
        let cql = space_cql(&key, since.as_deref());
        let wiki_base = mirror.wiki_base();
        // The listing runs up to AHEAD pages ahead of fetching bodies and committing.
        let (tx, rx) = tokio::sync::mpsc::channel::<PageListing>(super::AHEAD);
        let cql = &cql;
        let list = async move {
            let mut listing = self.listing_page(run, &mirror, cql, None).await?;
            let mut followed: HashSet<String> = HashSet::new();
            loop {
                run.set_total(listing.total);
                let next = listing
                    .next
                    .take()
                    .filter(|c| !listing.pages.is_empty() && followed.insert(c.clone()));
                if tx.send(listing).await.is_err() {
                    // The commits stopped (and say why).
                    return Ok(false);
                }
                match next {
                    Some(cursor) => {
                        listing = self.listing_page(run, &mirror, cql, Some(&cursor)).await?
                    }
                    None => return Ok::<bool, Failure>(true),
                }
            }
        };
        let store = async {
            // Owned here: when a commit fails the channel closes and the listing stops.
            let mut rx = rx;
            let mut people = People::default();
            let mut mark_ms = watermark.as_ref().map(|w| w.value_ms);
            let mut seen: HashSet<String> = HashSet::new();
            while let Some(listing) = rx.recv().await {
                let listed = listing.pages.len();
                let mark = super::newest_after(
                    listing.pages.iter().map(|p| p.last_modified.as_deref()),
                    mark_ms,
                );
                if let Some((_, ms)) = &mark {
                    mark_ms = Some(*ms);
                }
                seen.extend(listing.pages.iter().map(|p| p.id.clone()));
                let changed = self
                    .store_pages(
                        run,
                        &mirror,
                        &key,
                        listing.pages,
                        mark,
                        &before,
                        &mut people,
                        &wiki_base,
                    )
                    .await?;
                run.committed(listed, changed);
                progress(&run.progress());
            }
            Ok::<_, Failure>(seen)
        };
        // Pages already listed are committed even when a later request fails: the next sync
        // resumes after them.
        let (listed, stored) = tokio::join!(list, store);
        let seen = stored?;
        if !listed? {
            return Err(Failure::Internal("the listing stopped early".to_string()));
        }
        let mut removed = 0;
        if full {
            let gone: Vec<String> = before
                .cached
                .iter()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect();
            removed = self.cache.delete_pages(&gone)? as u64;
        }
        self.cache.finish_sync("confluence", &key)?;
        let held = self.cache.page_ids(&key)?.len() as u64;
        Ok(Done { held, removed })
    }

    /// One listing page on its own trace, filed with the run.
    async fn listing_page(
        &self,
        run: &Run,
        mirror: &Mirror<'_>,
        cql: &str,
        cursor: Option<&str>,
    ) -> Result<PageListing, Failure> {
        let trace = CallTrace::new();
        let page = mirror.page_listing(&trace, cql, cursor).await;
        run.add(&trace);
        Ok(page?)
    }

    /// Stores one listing page: finds what changed, fetches those bodies (Cloud) and the
    /// people's names, converts on a blocking thread and commits with `mark`. Returns the
    /// changed page ids.
    #[allow(clippy::too_many_arguments)]
    async fn store_pages(
        &self,
        run: &Run,
        mirror: &Mirror<'_>,
        key: &str,
        pages: Vec<ListedPage>,
        mark: Option<(String, i64)>,
        before: &Arc<Before>,
        people: &mut People,
        wiki_base: &str,
    ) -> Result<Vec<String>, Failure> {
        let listed: Vec<(String, Option<String>, Option<u64>)> = pages
            .iter()
            .map(|p| (p.id.clone(), p.last_modified.clone(), p.version))
            .collect();
        let (cache, b) = (self.cache.clone(), Arc::clone(before));
        let flags = tokio::task::spawn_blocking(move || classify(&cache, &b, &listed))
            .await
            .map_err(|e| Failure::Internal(e.to_string()))??;
        let mut changed = Vec::new();
        let mut bodies: Vec<Page> = Vec::new();
        let mut wanted: Vec<String> = Vec::new();
        let mut labels: HashMap<String, Vec<String>> = HashMap::new();
        for (listed, is_changed) in pages.into_iter().zip(flags) {
            if is_changed {
                changed.push(listed.id.clone());
            }
            if !(is_changed || before.full) {
                continue;
            }
            match listed.page {
                Some(page) => bodies.push(page),
                None => {
                    labels.insert(listed.id.clone(), listed.labels);
                    wanted.push(listed.id);
                }
            }
        }
        if !wanted.is_empty() {
            let trace = CallTrace::new();
            let fetched = mirror.pages_by_id(&trace, &wanted, key).await;
            run.add(&trace);
            for mut page in fetched? {
                if let Some(l) = labels.remove(&page.id) {
                    page.labels = l;
                }
                bodies.push(page);
            }
        }
        let unknown: Vec<String> = bodies
            .iter()
            .flat_map(|p| [&p.author, &p.last_editor])
            .flatten()
            .filter(|u| u.display_name.is_none())
            .filter_map(|u| u.id.clone())
            .filter(|id| people.asked.insert(id.clone()))
            .collect();
        if !unknown.is_empty() {
            let trace = CallTrace::new();
            let found = mirror.display_names(&trace, &unknown).await;
            run.add(&trace);
            people.names.extend(found);
        }
        if bodies.is_empty() && mark.is_none() {
            return Ok(changed);
        }
        let names = people.names.clone();
        let (cache, space, base) = (self.cache.clone(), key.to_string(), wiki_base.to_string());
        tokio::task::spawn_blocking(move || {
            let records: Vec<PageRecord> = bodies
                .iter()
                .filter_map(|p| records::page_record(p, &names, Some(base.clone())))
                .collect();
            let mark = mark.as_ref().map(|(t, ms)| (t.as_str(), *ms));
            cache.commit_page_batch(&space, &records, mark)
        })
        .await
        .map_err(|e| Failure::Internal(e.to_string()))??;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_cql_lists_pages_oldest_change_first_with_an_optional_window() {
        assert_eq!(
            space_cql("DOCS", None),
            "space = \"DOCS\" AND type = page ORDER BY lastmodified ASC"
        );
        assert_eq!(
            space_cql("~demo", Some("2026-11-20 09:58")),
            "space = \"~demo\" AND type = page AND lastmodified >= \"2026-11-20 09:58\" ORDER BY lastmodified ASC"
        );
    }
}

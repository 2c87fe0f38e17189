//! Keyset ("search after") paging for the Cloud cursors: Jira's `nextPageToken`, the v1 CQL
//! search `cursor` and the v2 list `cursor`.
//!
//! A token carries the sort position of the last item it returned (every sort key, down to a
//! unique tie-breaker such as the id), bound to its query. The next page starts at the first
//! item that sorts after that position in the current results. So paging stays correct while
//! the data changes underneath, as a `sync` needs: nothing is skipped when an earlier item is
//! deleted or moves, an item changed after it was returned may show up again further on (at its
//! new position), and an item deleted before its turn simply never shows up. Offset paging
//! (Data Center `startAt` / `start`) stays what it is at Atlassian: positions, which shift.

use std::cmp::Ordering;

use base64::Engine as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::query::{SortKey, cmp_keys};
use super::wire::digest;

/// Compares two sort positions key by key, each ascending or (`desc[i]`) descending.
pub(crate) fn cmp_pos(a: &[SortKey], b: &[SortKey], desc: &[bool]) -> Ordering {
    for (i, (ka, kb)) in a.iter().zip(b).enumerate() {
        let ord = cmp_keys(ka, kb);
        let ord = if desc.get(i).copied().unwrap_or(false) {
            ord.reverse()
        } else {
            ord
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// Items with their sort positions, in order.
pub(crate) struct Ranked<T> {
    /// Whether each key sorts descending.
    pub desc: Vec<bool>,
    /// `(position, item)` pairs, sorted by position.
    pub items: Vec<(Vec<SortKey>, T)>,
}

impl<T> Ranked<T> {
    /// Computes each item's position once and sorts by it.
    pub(crate) fn new(
        items: impl IntoIterator<Item = T>,
        desc: Vec<bool>,
        position: impl Fn(&T) -> Vec<SortKey>,
    ) -> Self {
        let mut items: Vec<(Vec<SortKey>, T)> =
            items.into_iter().map(|t| (position(&t), t)).collect();
        items.sort_by(|a, b| cmp_pos(&a.0, &b.0, &desc));
        Self { desc, items }
    }

    /// How many items there are.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Where the page after the one that ended at `after` starts.
    pub(crate) fn resume(&self, after: &[SortKey]) -> usize {
        self.items
            .partition_point(|(k, _)| cmp_pos(k, after, &self.desc) != Ordering::Greater)
    }
}

fn key_json(k: &SortKey) -> Value {
    match k {
        SortKey::Num(n) => json!(["n", n]),
        SortKey::Time(t) => json!(["t", t.unix_timestamp_nanos().to_string()]),
        SortKey::Str(s) => json!(["s", s]),
        SortKey::Key(p, n) => json!(["k", p, n]),
        SortKey::None => json!(["z"]),
    }
}

fn key_from(v: &Value) -> Option<SortKey> {
    let a = v.as_array()?;
    Some(match a.first()?.as_str()? {
        "n" => SortKey::Num(a.get(1)?.as_i64()?),
        "t" => {
            let nanos: i128 = a.get(1)?.as_str()?.parse().ok()?;
            SortKey::Time(OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?)
        }
        "s" => SortKey::Str(a.get(1)?.as_str()?.to_string()),
        "k" => SortKey::Key(a.get(1)?.as_str()?.to_string(), a.get(2)?.as_i64()?),
        "z" => SortKey::None,
        _ => return None,
    })
}

/// An opaque token for "the page after `position`", bound to `query` (`kind` keeps the
/// products' tokens apart).
pub(crate) fn after_token(kind: &str, query: &str, position: &[SortKey]) -> String {
    let keys: Vec<Value> = position.iter().map(key_json).collect();
    let raw = format!("{kind}>{:016x}>{}", digest(query), Value::Array(keys));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Reads a token made by [`after_token`]; `None` when it is garbage, of another kind, or
/// belongs to another query.
pub(crate) fn read_after(kind: &str, token: &str, query: &str) -> Option<Vec<SortKey>> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(3, '>');
    if parts.next()? != kind || parts.next()? != format!("{:016x}", digest(query)) {
        return None;
    }
    let keys: Value = serde_json::from_str(parts.next()?).ok()?;
    keys.as_array()?.iter().map(key_from).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_kind_and_query() {
        let pos = vec![
            SortKey::Time(super::super::seed::REFERENCE),
            SortKey::Key("ENG".into(), 12),
            SortKey::Str("a \"quoted\" > title".into()),
            SortKey::Num(-4),
            SortKey::None,
        ];
        let t = after_token("jql", "project = ENG", &pos);
        assert_eq!(read_after("jql", &t, "project = ENG"), Some(pos));
        assert_eq!(read_after("jql", &t, "project = OPS"), None);
        assert_eq!(read_after("cql", &t, "project = ENG"), None);
        assert_eq!(read_after("jql", "bm90IGEgdG9rZW4", "project = ENG"), None);
    }

    #[test]
    fn resume_starts_after_the_position_even_when_it_is_gone() {
        let ranked = Ranked::new([5i64, 1, 3, 9], vec![false], |n| vec![SortKey::Num(*n)]);
        let order: Vec<i64> = ranked.items.iter().map(|(_, n)| *n).collect();
        assert_eq!(order, [1, 3, 5, 9]);
        assert_eq!(ranked.resume(&[SortKey::Num(3)]), 2);
        assert_eq!(ranked.resume(&[SortKey::Num(4)]), 2, "3 < 4 < 5");
        assert_eq!(ranked.resume(&[SortKey::Num(9)]), 4);
        let desc = Ranked::new([5i64, 1, 3], vec![true], |n| vec![SortKey::Num(*n)]);
        assert_eq!(desc.resume(&[SortKey::Num(5)]), 1);
    }
}

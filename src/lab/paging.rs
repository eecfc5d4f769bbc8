//! LIST chunking as the API server does it: `limit` caps a page, `metadata.continue` carries an
//! opaque token for the rest, `remainingItemCount` says how much is left. kube's watcher asks for
//! pages of 500 and so does kubectl, so without this a 10,000-object list arrived in one piece.
//!
//! A token names the resourceVersion of the first page and the last key served. Unlike a real
//! server, later pages show the store as it is now, not as it was at that version; clients then
//! watch from the first page's version, so every change in between is replayed to them anyway.
//! A token older than the retained history is refused with 410, as a compacted etcd would.

use serde_json::Value;

/// Where a paged LIST continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Continue {
    /// The resourceVersion of the first page; every page reports it.
    pub rv: u64,
    /// The last (namespace, name) already served.
    pub after: (String, String),
}

impl Continue {
    /// The opaque token (hex, so it survives any query string).
    pub fn encode(&self) -> String {
        format!("{}\0{}\0{}", self.rv, self.after.0, self.after.1)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(token: &str) -> Option<Continue> {
        if token.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let mut parts = text.split('\0');
        let rv = parts.next()?.parse().ok()?;
        let ns = parts.next()?.to_string();
        let name = parts.next()?.to_string();
        if parts.next().is_some() {
            return None;
        }
        Some(Continue {
            rv,
            after: (ns, name),
        })
    }
}

/// One page of a LIST.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub items: Vec<&'a Value>,
    pub next: Option<Continue>,
    pub remaining: Option<usize>,
}

fn key(o: &Value) -> (&str, &str) {
    (
        o["metadata"]["namespace"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default(),
    )
}

/// Cuts `items` (in key order, already filtered) into the page `limit` / `from` asks for;
/// `rv` is the resourceVersion a new list reports.
pub fn page<'a>(
    items: impl Iterator<Item = &'a Value>,
    limit: Option<usize>,
    from: Option<&Continue>,
    rv: u64,
) -> Page<'a> {
    let rest: Vec<&Value> = match from {
        Some(c) => items
            .filter(|o| {
                let (ns, name) = key(o);
                (ns, name) > (c.after.0.as_str(), c.after.1.as_str())
            })
            .collect(),
        None => items.collect(),
    };
    let first_rv = from.map_or(rv, |c| c.rv);
    match limit {
        Some(n) if n > 0 && rest.len() > n => {
            let mut items = rest;
            let remaining = items.len() - n;
            items.truncate(n);
            let last = items.last().map(|o| key(o)).unwrap_or_default();
            Page {
                next: Some(Continue {
                    rv: first_rv,
                    after: (last.0.to_string(), last.1.to_string()),
                }),
                remaining: Some(remaining),
                items,
            }
        }
        _ => Page {
            items: rest,
            next: None,
            remaining: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn objs(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"metadata": {"namespace": format!("ns{:02}", i / 10), "name": format!("o{:03}", i)}}))
            .collect()
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let c = Continue {
            rv: 42,
            after: ("demo".into(), "web".into()),
        };
        assert_eq!(Continue::decode(&c.encode()), Some(c));
        for bad in ["", "zz", "abc", "41", "3432000000"] {
            assert_eq!(Continue::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_limit_means_everything() {
        let all = objs(25);
        let p = page(all.iter(), None, None, 7);
        assert_eq!(p.items.len(), 25);
        assert!(p.next.is_none() && p.remaining.is_none());
        // A limit the list fits in: one page, no token (as the API server).
        let p = page(all.iter(), Some(25), None, 7);
        assert!(p.next.is_none());
    }

    proptest! {
        /// Following the tokens visits every object exactly once, in order, and every page
        /// reports the first page's resourceVersion.
        #[test]
        fn pages_cover_the_list_exactly_once(n in 0usize..120, limit in 1usize..40) {
            let all = objs(n);
            let mut seen = Vec::new();
            let mut from: Option<Continue> = None;
            loop {
                // The store moved on between pages; tokens keep the first version.
                let p = page(all.iter(), Some(limit), from.as_ref(), 100 + seen.len() as u64);
                prop_assert!(p.items.len() <= limit);
                seen.extend(p.items.iter().map(|o| key(o).1.to_string()));
                if let Some(c) = &p.next {
                    prop_assert_eq!(c.rv, from.as_ref().map_or(100, |f| f.rv));
                    prop_assert_eq!(p.remaining, Some(n - seen.len()));
                }
                match p.next {
                    Some(c) => from = Some(c),
                    None => break,
                }
            }
            let want: Vec<String> = all.iter().map(|o| key(o).1.to_string()).collect();
            prop_assert_eq!(seen, want);
        }
    }
}

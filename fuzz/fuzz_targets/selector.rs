//! Label selectors as pools and policies carry them (JSON from the cluster), their string form
//! (what doctor and the listings print), and matching against label sets.
#![no_main]

use std::collections::BTreeMap;

use lbctl::model::selector::{service_labels_with_meta, CompiledSelector, LabelSelector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: labels as `k=v` pairs separated by `,`; the rest: the selector as JSON.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (labels_line, json) = text.split_once('\n').unwrap_or(("", text));
    let labels: BTreeMap<String, String> = labels_line
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let labels = service_labels_with_meta(Some(&labels), "ns", "svc");
    let Ok(sel) = serde_json::from_str::<LabelSelector>(json) else {
        return;
    };
    // The string form round-trips to the same selector.
    let s = serde_json::to_string(&sel).expect("a decoded selector serializes");
    let back: LabelSelector = serde_json::from_str(&s).expect("its string form decodes");
    assert_eq!(back, sel, "{s}");
    match CompiledSelector::compile(Some(&sel)) {
        Ok(c) => {
            let m = c.matches(&labels);
            // matchLabels alone: matching is "every pair present with that value".
            if sel.match_expressions.is_none() {
                let want = sel
                    .match_labels
                    .iter()
                    .flatten()
                    .all(|(k, v)| labels.get(k) == Some(v));
                assert_eq!(m, want, "{s} on {labels:?}");
            }
            if c.selects_all() {
                assert!(m, "{s} selects all but not {labels:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

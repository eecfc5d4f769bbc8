//! The lab's bounds: request bodies as a real API server limits them, and the memory the lab keeps
//! for itself (watch history, the request log), so a long-running lab does not grow without end.

use serde_json::Value;

/// A real API server reads at most 3 MiB of a write request's body (`MaxRequestBodyBytes`).
pub(crate) const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What the lab may hold beyond the objects themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events kept for watches to resume from; older resourceVersions get 410 Gone, as after an
    /// etcd compaction.
    pub history_events: usize,
    /// The same history's size (objects as JSON, approximately).
    pub history_bytes: usize,
    /// Requests kept in memory for [`super::Lab::requests`]; 0 keeps none.
    pub request_log: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            history_events: 100_000,
            history_bytes: 64 << 20,
            request_log: 100_000,
        }
    }
}

/// What the lab holds now, to check the bounds against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub history_events: usize,
    pub history_bytes: usize,
    pub request_log: usize,
}

/// The size of `v` as compact JSON, without serializing it.
pub(crate) fn json_size(v: &Value) -> usize {
    fn str_size(s: &str) -> usize {
        // Quotes, plus escapes for the characters JSON escapes.
        2 + s.len()
            + s.bytes()
                .map(|b| match b {
                    b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                    0..0x20 => 5,
                    _ => 0,
                })
                .sum::<usize>()
    }
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => str_size(s),
        Value::Array(a) => 2 + a.len().saturating_sub(1) + a.iter().map(json_size).sum::<usize>(),
        Value::Object(m) => {
            2 + m.len().saturating_sub(1)
                + m.iter()
                    .map(|(k, v)| str_size(k) + 1 + json_size(v))
                    .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn size_matches_serialization() {
        let v = json!({"a": [1, "x\"y", null, true, {"b": "\n"}], "c": -1.5});
        assert_eq!(json_size(&v), serde_json::to_vec(&v).unwrap().len());
    }

    proptest! {
        #[test]
        fn size_of_strings_and_maps(m in proptest::collection::btree_map("[ -~]{0,8}", "[ -~\\n]{0,12}", 0..6)) {
            let v = json!({"data": m});
            prop_assert_eq!(json_size(&v), serde_json::to_vec(&v).unwrap().len());
        }
    }
}

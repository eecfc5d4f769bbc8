//! Parsing of `labelSelector` (see `labels`) and `fieldSelector` query strings as the API server
//! accepts them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Eq(String, String),
    NotEq(String, String),
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),!h,n>1`), as apimachinery parses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelQuery(super::labels::Selector);

/// A parsed field selector (`metadata.name=x,metadata.namespace!=y`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldQuery(Vec<Term>);

fn split_top_level(s: &str) -> Vec<&str> {
    // Commas inside `in (a,b)` do not separate terms.
    let mut out = vec![];
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

impl LabelQuery {
    pub fn parse(s: &str) -> Result<Self, String> {
        super::labels::Selector::parse(s).map(LabelQuery)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.matches(obj)
    }
}

impl FieldQuery {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = vec![];
        for t in split_top_level(s) {
            let term = if let Some((k, v)) = t.split_once("!=") {
                Term::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                Term::Eq(k.trim().into(), v.trim().into())
            } else {
                return Err(format!("invalid selector: '{t}'; can't understand '{t}'"));
            };
            terms.push(term);
        }
        Ok(FieldQuery(terms))
    }

    /// Field paths are dotted JSON paths; a missing field reads as "" as in the API server.
    pub fn matches(&self, obj: &Value) -> bool {
        let get = |path: &str| -> String {
            let mut cur = obj;
            for part in path.split('.') {
                cur = &cur[part];
            }
            match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }
        };
        self.0.iter().all(|t| match t {
            Term::Eq(k, v) => &get(k) == v,
            Term::NotEq(k, v) => &get(k) != v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_queries() {
        let o = json!({"metadata": {"name": "x", "namespace": "demo"}, "spec": {"type": "LoadBalancer"}});
        let m = |s: &str| FieldQuery::parse(s).unwrap().matches(&o);
        assert!(m("metadata.name=x"));
        assert!(m("metadata.namespace!=other,spec.type=LoadBalancer"));
        assert!(!m("metadata.name=y"));
        assert!(FieldQuery::parse("metadata.name").is_err());
    }
}

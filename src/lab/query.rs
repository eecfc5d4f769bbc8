//! Parsing of `labelSelector` and `fieldSelector` query strings as the API server accepts them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),!h`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelQuery(Vec<Term>);

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

fn set_values(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised value set, found {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelQuery {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = vec![];
        for t in split_top_level(s) {
            let term = if let Some(k) = t.strip_prefix('!') {
                Term::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                Term::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = t.split_once(" notin ") {
                Term::NotIn(k.trim().into(), set_values(rest)?)
            } else if let Some((k, rest)) = t.split_once(" in ") {
                Term::In(k.trim().into(), set_values(rest)?)
            } else if t.contains(char::is_whitespace) || t.contains('(') {
                return Err(format!("unable to parse requirement: {t:?}"));
            } else {
                Term::Exists(t.to_string())
            };
            terms.push(term);
        }
        Ok(LabelQuery(terms))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|t| match t {
            Term::Eq(k, v) => get(k) == Some(v.as_str()),
            Term::NotEq(k, v) => get(k) != Some(v.as_str()),
            Term::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Term::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Term::Exists(k) => get(k).is_some(),
            Term::NotExists(k) => get(k).is_none(),
        })
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
            _ => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_queries() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        let m = |s: &str| LabelQuery::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (db, web),!missing"));
        assert!(!m("tier notin (fe)"));
        assert!(m(""));
        assert!(LabelQuery::parse("app in web").is_err());
    }

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

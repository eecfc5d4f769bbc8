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
pub(crate) struct LabelQuery(super::labels::Selector);

/// A parsed field selector (`metadata.name=x,metadata.namespace!=y`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldQuery(Vec<Term>);

impl LabelQuery {
    pub fn parse(s: &str) -> Result<Self, String> {
        super::labels::Selector::parse(s).map(LabelQuery)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.matches(obj)
    }
}

/// Splits a field selector at commas not escaped with a backslash.
fn split_field_terms(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// apimachinery's `UnescapeValue`: `\\`, `\,` and `\=` are the only escapes, and an
/// unescaped `,` or `=` is not allowed in a value.
fn unescape_field_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ))
                }
                None => return Err("invalid field selector: invalid escape sequence: \\".into()),
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ))
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

impl FieldQuery {
    /// Parses as `fields.ParseSelector` does: each term is split at its first `!=`, `==` or `=`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = vec![];
        for t in split_field_terms(s) {
            if t.is_empty() {
                continue;
            }
            let op = (0..t.len())
                .filter(|i| t.is_char_boundary(*i))
                .find_map(|i| {
                    ["!=", "==", "="]
                        .into_iter()
                        .find(|op| t[i..].starts_with(op))
                        .map(|op| (i, op))
                });
            let Some((i, op)) = op else {
                return Err(format!("invalid selector: '{s}'; can't understand '{t}'"));
            };
            let (k, v) = (
                t[..i].to_string(),
                unescape_field_value(&t[i + op.len()..])?,
            );
            terms.push(if op == "!=" {
                Term::NotEq(k, v)
            } else {
                Term::Eq(k, v)
            });
        }
        Ok(FieldQuery(terms))
    }

    /// Refuses fields the kind does not index, with the server's message; maps the legacy
    /// `spec.host` of Pods to `spec.nodeName`, as the server's conversion does.
    pub fn check(mut self, allowed: &[String]) -> Result<Self, String> {
        for t in &mut self.0 {
            let (Term::Eq(k, _) | Term::NotEq(k, _)) = t;
            if k == "spec.host" && allowed.iter().any(|a| a == "spec.nodeName") {
                *k = "spec.nodeName".into();
            }
            if !allowed.iter().any(|a| a == k) {
                let only = allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(format!("{k:?} is not a known field selector: only {only}"));
            }
        }
        Ok(self)
    }

    /// Field paths are dotted JSON paths; a missing field reads as its Go zero value ("" for
    /// strings, "false" for the booleans the server indexes).
    pub fn matches(&self, obj: &Value) -> bool {
        let get = |path: &str| -> String {
            let path = if path == "source" {
                "source.component"
            } else {
                path
            };
            let mut cur = obj;
            for part in path.split('.') {
                cur = &cur[part];
            }
            match cur {
                Value::String(s) => s.clone(),
                Value::Null if matches!(path, "spec.hostNetwork" | "spec.unschedulable") => {
                    "false".into()
                }
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
        assert_eq!(
            FieldQuery::parse("metadata.name=a,metadata.name").unwrap_err(),
            "invalid selector: 'metadata.name=a,metadata.name'; can't understand 'metadata.name'"
        );
        assert!(FieldQuery::parse("metadata.name=a=b").is_err());
        assert!(FieldQuery::parse("metadata.name=a\\q").is_err());
        let escaped = json!({"metadata": {"name": "a,b"}});
        assert!(FieldQuery::parse("metadata.name=a\\,b")
            .unwrap()
            .matches(&escaped));
        let allowed: Vec<String> = ["metadata.name", "spec.type"].map(String::from).into();
        assert!(FieldQuery::parse("spec.type=x")
            .unwrap()
            .check(&allowed)
            .is_ok());
        assert_eq!(
            FieldQuery::parse("metadata.name=x,spec.colour!=y")
                .unwrap()
                .check(&allowed)
                .unwrap_err(),
            "\"spec.colour\" is not a known field selector: only \"metadata.name\", \"spec.type\""
        );
        let node = json!({"spec": {}});
        assert!(FieldQuery::parse("spec.unschedulable=false")
            .unwrap()
            .matches(&node));
    }
}

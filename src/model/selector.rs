//! Label-selector evaluation with the API server's validation rules.
//!
//! Cilium rejects an invalid selector (e.g. `In` with no values) and reports it in a `bad-*`
//! condition rather than matching nothing silently; lbctl does the same so doctor can say why.

use std::collections::BTreeMap;

use kube::core::{Expression, Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names;

/// Cilium's (slim) label selector: the operator is an enum in the CRD schema, but kept a string
/// here so that an object written around the schema still loads and is reported, not rejected.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LabelSelectorRequirement {
    pub key: String,
    #[schemars(extend("enum" = ["In", "NotIn", "Exists", "DoesNotExist"]))]
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Same wording as apimachinery, which Cilium copies into its `bad-*` condition messages.
    #[error("values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty (key {key:?})")]
    EmptyValues { key: String },
    #[error("values: Invalid value: {values:?}: values set must be empty for exists and does not exist (key {key:?})")]
    ValuesNotAllowed { key: String, values: Vec<String> },
    #[error("operator: Unsupported value: {operator:?}: supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\" (key {key:?})")]
    BadOperator { key: String, operator: String },
    #[error("key: Invalid value: {key:?}: {why}")]
    BadKey { key: String, why: &'static str },
    #[error("matchLabels: Invalid value: {value:?} for key {key:?}: {why}")]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
}

/// A validated selector, ready to match label sets. `None` in the CRD (no selector) matches all.
#[derive(Debug, Clone)]
pub struct CompiledSelector {
    selector: Selector,
}

impl CompiledSelector {
    /// Validates like the API server does; an absent selector selects everything.
    pub fn compile(sel: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(sel) = sel else {
            return Ok(CompiledSelector {
                selector: Selector::default(),
            });
        };
        let mut exprs: Vec<Expression> = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            validate_key(k)?;
            validate_value(k, v)?;
            exprs.push(Expression::Equal(k.clone(), v.clone()));
        }
        for req in sel.match_expressions.iter().flatten() {
            validate_key(&req.key)?;
            let values = req.values.clone().unwrap_or_default();
            let expr = match req.operator.as_str() {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        return Err(SelectorError::EmptyValues {
                            key: req.key.clone(),
                        });
                    }
                    for v in &values {
                        validate_value(&req.key, v)?;
                    }
                    let set = values.into_iter().collect();
                    if req.operator == "In" {
                        Expression::In(req.key.clone(), set)
                    } else {
                        Expression::NotIn(req.key.clone(), set)
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        return Err(SelectorError::ValuesNotAllowed {
                            key: req.key.clone(),
                            values,
                        });
                    }
                    if req.operator == "Exists" {
                        Expression::Exists(req.key.clone())
                    } else {
                        Expression::DoesNotExist(req.key.clone())
                    }
                }
                other => {
                    return Err(SelectorError::BadOperator {
                        key: req.key.clone(),
                        operator: other.to_string(),
                    })
                }
            };
            exprs.push(expr);
        }
        Ok(CompiledSelector {
            selector: Selector::from_iter(exprs),
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.matches(labels)
    }

    /// True when the selector selects everything.
    pub fn selects_all(&self) -> bool {
        self.selector.selects_all()
    }
}

/// Service labels plus the synthetic namespace/name labels Cilium adds before matching.
pub fn service_labels_with_meta(
    labels: Option<&BTreeMap<String, String>>,
    namespace: &str,
    name: &str,
) -> BTreeMap<String, String> {
    let mut out = labels.cloned().unwrap_or_default();
    out.insert(
        names::LABEL_SVC_NAMESPACE.to_string(),
        namespace.to_string(),
    );
    out.insert(names::LABEL_SVC_NAME.to_string(), name.to_string());
    out
}

fn validate_key(key: &str) -> Result<(), SelectorError> {
    let bad = |why| {
        Err(SelectorError::BadKey {
            key: key.to_string(),
            why,
        })
    };
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 {
            return bad("prefix part must be a DNS subdomain of at most 253 characters");
        }
        let ok = p.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if !ok {
            return bad(
                "prefix part must consist of lower case alphanumeric characters, '-' or '.'",
            );
        }
    }
    if name.is_empty() {
        return bad("name part must be non-empty");
    }
    if !is_qualified_name_part(name) {
        return bad("name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric");
    }
    Ok(())
}

fn validate_value(key: &str, value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_qualified_name_part(value) {
        Ok(())
    } else {
        Err(SelectorError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            why: "a valid label must be an empty string or at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        })
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= 63
        && !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn sel(ml: &[(&str, &str)], me: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_labels: if ml.is_empty() {
                None
            } else {
                Some(labels(ml))
            },
            match_expressions: if me.is_empty() { None } else { Some(me) },
        }
    }

    #[test]
    fn absent_and_empty_selectors_match_everything() {
        let l = labels(&[("a", "b")]);
        assert!(CompiledSelector::compile(None).unwrap().matches(&l));
        assert!(CompiledSelector::compile(Some(&LabelSelector::default()))
            .unwrap()
            .matches(&l));
    }

    #[test]
    fn operators_behave_like_apimachinery() {
        let l = labels(&[("app", "web"), ("tier", "fe")]);
        let m = |s: LabelSelector| CompiledSelector::compile(Some(&s)).unwrap().matches(&l);
        assert!(m(sel(&[("app", "web")], vec![])));
        assert!(!m(sel(&[("app", "db")], vec![])));
        assert!(m(sel(&[], vec![req("app", "In", Some(&["db", "web"]))])));
        assert!(!m(sel(&[], vec![req("app", "NotIn", Some(&["web"]))])));
        assert!(m(sel(&[], vec![req("missing", "NotIn", Some(&["x"]))])));
        assert!(m(sel(&[], vec![req("tier", "Exists", None)])));
        assert!(!m(sel(&[], vec![req("tier", "DoesNotExist", None)])));
        assert!(m(sel(&[], vec![req("nope", "DoesNotExist", Some(&[]))])));
        // every requirement must hold
        assert!(!m(sel(
            &[("app", "web")],
            vec![req("tier", "In", Some(&["be"]))]
        )));
    }

    #[test]
    fn invalid_selectors_are_errors_not_silent_mismatches() {
        let e = |s: LabelSelector| CompiledSelector::compile(Some(&s)).unwrap_err();
        assert!(matches!(
            e(sel(&[], vec![req("a", "In", None)])),
            SelectorError::EmptyValues { .. }
        ));
        assert!(matches!(
            e(sel(&[], vec![req("a", "NotIn", Some(&[]))])),
            SelectorError::EmptyValues { .. }
        ));
        assert!(matches!(
            e(sel(&[], vec![req("a", "Exists", Some(&["x"]))])),
            SelectorError::ValuesNotAllowed { .. }
        ));
        assert!(matches!(
            e(sel(&[], vec![req("a", "Gt", Some(&["1"]))])),
            SelectorError::BadOperator { .. }
        ));
        assert!(matches!(
            e(sel(&[("bad key!", "x")], vec![])),
            SelectorError::BadKey { .. }
        ));
        assert!(matches!(
            e(sel(&[("k", "bad value!")], vec![])),
            SelectorError::BadValue { .. }
        ));
        let msg = e(sel(&[], vec![req("a", "In", None)])).to_string();
        assert!(
            msg.contains("for 'in', 'notin' operators, values set can't be empty"),
            "{msg}"
        );
    }

    #[test]
    fn meta_labels_are_added() {
        let l = service_labels_with_meta(None, "demo", "demo-web");
        let s = sel(&[("io.kubernetes.service.name", "demo-web")], vec![]);
        assert!(CompiledSelector::compile(Some(&s)).unwrap().matches(&l));
        assert_eq!(l.get("io.kubernetes.service.namespace").unwrap(), "demo");
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_selectors(key in ".{0,20}", op in ".{0,8}", vals in proptest::collection::vec(".{0,10}", 0..3)) {
            let s = sel(&[], vec![LabelSelectorRequirement { key, operator: op, values: Some(vals) }]);
            if let Ok(c) = CompiledSelector::compile(Some(&s)) {
                let _ = c.matches(&BTreeMap::new());
            }
        }

        #[test]
        fn match_labels_agree_with_subset_semantics(k in "[a-z]{1,5}", v in "[a-z]{1,5}", other in "[a-z]{1,5}") {
            let s = sel(&[(&k, &v)], vec![]);
            let c = CompiledSelector::compile(Some(&s)).unwrap();
            prop_assert!(c.matches(&labels(&[(&k, &v)])));
            prop_assert_eq!(c.matches(&labels(&[(&k, &other)])), other == v);
        }
    }
}

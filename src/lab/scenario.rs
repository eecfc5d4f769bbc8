//! Scenarios: multi-document YAML files of Kubernetes objects loaded into the lab at start.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::output::{Render, Style};

/// Embedded scenarios, by name.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("demo", include_str!("../../scenarios/demo.yaml")),
    (
        "doctor-healthy",
        include_str!("../../scenarios/doctor-healthy.yaml"),
    ),
    (
        "doctor-no-pool",
        include_str!("../../scenarios/doctor-no-pool.yaml"),
    ),
    (
        "doctor-pool-selector-mismatch",
        include_str!("../../scenarios/doctor-pool-selector-mismatch.yaml"),
    ),
    (
        "doctor-ip-outside-pools",
        include_str!("../../scenarios/doctor-ip-outside-pools.yaml"),
    ),
    (
        "doctor-ip-in-disabled-pool",
        include_str!("../../scenarios/doctor-ip-in-disabled-pool.yaml"),
    ),
    (
        "doctor-ip-in-conflicting-pool",
        include_str!("../../scenarios/doctor-ip-in-conflicting-pool.yaml"),
    ),
    (
        "doctor-ip-first-last",
        include_str!("../../scenarios/doctor-ip-first-last.yaml"),
    ),
    (
        "doctor-ip-unparsable",
        include_str!("../../scenarios/doctor-ip-unparsable.yaml"),
    ),
    (
        "doctor-deprecated-loadbalancerip",
        include_str!("../../scenarios/doctor-deprecated-loadbalancerip.yaml"),
    ),
    (
        "doctor-out-of-ips",
        include_str!("../../scenarios/doctor-out-of-ips.yaml"),
    ),
    (
        "doctor-ip-already-allocated",
        include_str!("../../scenarios/doctor-ip-already-allocated.yaml"),
    ),
    (
        "doctor-sharing-port-clash",
        include_str!("../../scenarios/doctor-sharing-port-clash.yaml"),
    ),
    (
        "doctor-foreign-class",
        include_str!("../../scenarios/doctor-foreign-class.yaml"),
    ),
    (
        "doctor-default-ipam-none",
        include_str!("../../scenarios/doctor-default-ipam-none.yaml"),
    ),
    (
        "doctor-l2-disabled",
        include_str!("../../scenarios/doctor-l2-disabled.yaml"),
    ),
    (
        "doctor-kpr-off",
        include_str!("../../scenarios/doctor-kpr-off.yaml"),
    ),
    (
        "doctor-lease-rbac-missing",
        include_str!("../../scenarios/doctor-lease-rbac-missing.yaml"),
    ),
    (
        "doctor-no-l2-policy",
        include_str!("../../scenarios/doctor-no-l2-policy.yaml"),
    ),
    (
        "doctor-policy-selector-mismatch",
        include_str!("../../scenarios/doctor-policy-selector-mismatch.yaml"),
    ),
    (
        "doctor-policy-no-ip-kinds",
        include_str!("../../scenarios/doctor-policy-no-ip-kinds.yaml"),
    ),
    (
        "doctor-policy-bad-selector",
        include_str!("../../scenarios/doctor-policy-bad-selector.yaml"),
    ),
    (
        "doctor-unanchored-regex",
        include_str!("../../scenarios/doctor-unanchored-regex.yaml"),
    ),
    (
        "doctor-node-selector-nomatch",
        include_str!("../../scenarios/doctor-node-selector-nomatch.yaml"),
    ),
    (
        "doctor-lease-expired",
        include_str!("../../scenarios/doctor-lease-expired.yaml"),
    ),
    (
        "doctor-lease-holder-notready",
        include_str!("../../scenarios/doctor-lease-holder-notready.yaml"),
    ),
    (
        "doctor-etp-local-no-endpoint",
        include_str!("../../scenarios/doctor-etp-local-no-endpoint.yaml"),
    ),
    (
        "doctor-duplicate-legacy-conditions",
        include_str!("../../scenarios/doctor-duplicate-legacy-conditions.yaml"),
    ),
    (
        "doctor-no-crds",
        include_str!("../../scenarios/doctor-no-crds.yaml"),
    ),
    (
        "doctor-bad-pool-blocks",
        include_str!("../../scenarios/doctor-bad-pool-blocks.yaml"),
    ),
    (
        "doctor-old-cilium-v2alpha1",
        include_str!("../../scenarios/doctor-old-cilium-v2alpha1.yaml"),
    ),
    (
        "doctor-engine-lbctl",
        include_str!("../../scenarios/doctor-engine-lbctl.yaml"),
    ),
    (
        "doctor-engine-cilium-not-running",
        include_str!("../../scenarios/doctor-engine-cilium-not-running.yaml"),
    ),
    (
        "doctor-capacity-segment",
        include_str!("../../scenarios/doctor-capacity-segment.yaml"),
    ),
    (
        "doctor-node-selector-near-miss",
        include_str!("../../scenarios/doctor-node-selector-near-miss.yaml"),
    ),
    (
        "doctor-bgp-class-on-l2",
        include_str!("../../scenarios/doctor-bgp-class-on-l2.yaml"),
    ),
    (
        "doctor-generated-service",
        include_str!("../../scenarios/doctor-generated-service.yaml"),
    ),
    (
        "doctor-several-pools",
        include_str!("../../scenarios/doctor-several-pools.yaml"),
    ),
    (
        "doctor-lease-load-non-lb",
        include_str!("../../scenarios/doctor-lease-load-non-lb.yaml"),
    ),
    (
        "doctor-summary-cause",
        include_str!("../../scenarios/doctor-summary-cause.yaml"),
    ),
    (
        "doctor-lease-rbac-role",
        include_str!("../../scenarios/doctor-lease-rbac-role.yaml"),
    ),
    (
        "doctor-interfaces-no-device",
        include_str!("../../scenarios/doctor-interfaces-no-device.yaml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {0:?} is neither an embedded scenario ({1}) nor a readable file: {2}")]
    NotFound(String, String, std::io::Error),
    #[error("{origin}: document {doc} (starting at line {line}): {message}")]
    Bad {
        origin: String,
        doc: usize,
        line: usize,
        message: String,
    },
}

/// A scenario's objects, in file order.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub objects: Vec<Value>,
}

impl Scenario {
    /// An embedded name or a path to a YAML file, with its timestamps moved to the present
    /// (see [`Scenario::shift_time`]).
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        let mut s = Scenario::load_as_written(name_or_path)?;
        s.shift_time(jiff::Timestamp::now());
        Ok(s)
    }

    /// An embedded name or a path to a YAML file, timestamps as written.
    pub fn load_as_written(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((n, text)) = EMBEDDED.iter().find(|(n, _)| *n == name_or_path) {
            return Scenario::parse(n, text);
        }
        let text = std::fs::read_to_string(Path::new(name_or_path)).map_err(|e| {
            let names = EMBEDDED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            ScenarioError::NotFound(name_or_path.to_string(), names, e)
        })?;
        Scenario::parse(name_or_path, &text)
    }

    /// Moves every timestamp of the scenario by one offset, so that the scenario's "now" lands
    /// at `now`. A scenario is a picture of a cluster at one moment; written with fixed dates,
    /// a lease renewed "just now" when the file was written is long expired when it is loaded.
    /// The scenario's "now" is the value of the annotation [`NOW_ANNOTATION`] if an object
    /// carries one (for files that need a timestamp in the past, e.g. an expired lease), else the
    /// newest timestamp in the file. Every string value that is an RFC 3339 time is shifted, so
    /// the order and spacing of events (which pool is older, how long ago a lease was renewed)
    /// stay as written. Returns the offset applied, in seconds.
    pub fn shift_time(&mut self, now: jiff::Timestamp) -> i64 {
        let marker = self.objects.iter().find_map(|o| {
            o["metadata"]["annotations"][NOW_ANNOTATION]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        });
        let reference = marker.or_else(|| {
            let mut newest: Option<jiff::Timestamp> = None;
            for o in &self.objects {
                visit_times(o, &mut |t| {
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                });
            }
            newest
        });
        let Some(reference) = reference else {
            return 0;
        };
        let offset = now.as_second() - reference.as_second();
        for o in &mut self.objects {
            shift_times(o, offset);
        }
        offset
    }

    /// Parses `---`-separated documents; each must be an object with apiVersion, kind and a name.
    pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let mut objects = vec![];
        let mut doc_start = 1;
        let mut docs: Vec<(usize, String)> = vec![];
        let mut cur = String::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim_end() == "---" {
                docs.push((doc_start, std::mem::take(&mut cur)));
                doc_start = i + 2;
            } else {
                cur.push_str(line);
                cur.push('\n');
            }
        }
        docs.push((doc_start, cur));
        for (idx, (line, doc)) in docs.into_iter().enumerate() {
            if doc
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let bad = |message: String| ScenarioError::Bad {
                origin: origin.to_string(),
                doc: idx + 1,
                line,
                message,
            };
            let v: Value = serde_saphyr::from_str(&doc).map_err(|e| bad(e.to_string()))?;
            for field in ["apiVersion", "kind"] {
                if !v[field].is_string() {
                    return Err(bad(format!("missing {field}")));
                }
            }
            if !v["metadata"]["name"].is_string() {
                return Err(bad("missing metadata.name".into()));
            }
            objects.push(v);
        }
        Ok(Scenario {
            name: origin.to_string(),
            objects,
        })
    }
}

/// The annotation that names a scenario's "now" (see [`Scenario::shift_time`]).
pub const NOW_ANNOTATION: &str = "lab.lbctl.io/now";

/// An RFC 3339 timestamp as Kubernetes writes them (`2025-01-01T00:00:00Z`, with optional
/// fraction); dates alone and other strings are not times to shift.
fn as_time(s: &str) -> Option<jiff::Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

fn visit_times(v: &Value, f: &mut impl FnMut(jiff::Timestamp)) {
    match v {
        Value::String(s) => {
            if let Some(t) = as_time(s) {
                f(t);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| visit_times(x, f)),
        Value::Object(m) => m.values().for_each(|x| visit_times(x, f)),
        _ => {}
    }
}

fn shift_times(v: &mut Value, offset: i64) {
    match v {
        Value::String(s) => {
            let Some(t) = as_time(s) else { return };
            let Ok(moved) = t.checked_add(jiff::SignedDuration::from_secs(offset)) else {
                return;
            };
            // Keep the fraction's presence: a Lease's MicroTime needs it, a Time must not have it.
            let text = if s.contains('.') {
                moved.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
            } else {
                moved.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            };
            *s = text;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| shift_times(x, offset)),
        Value::Object(m) => m.values_mut().for_each(|x| shift_times(x, offset)),
        _ => {}
    }
}

/// One embedded scenario as `lbctl lab scenarios` lists it.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: &'static str,
    /// The scenario file's leading comment.
    pub description: String,
    /// How many documents it holds, and their kinds (sorted, each once).
    pub objects: usize,
    pub kinds: Vec<String>,
}

/// `lbctl lab scenarios`: every embedded scenario (`-o json|yaml`: an array of [`Listed`]).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Catalogue(pub Vec<Listed>);

/// The embedded scenarios, in their built-in order.
pub fn catalogue() -> Catalogue {
    Catalogue(
        EMBEDDED
            .iter()
            .map(|(name, text)| {
                let description = text
                    .lines()
                    .take_while(|l| l.starts_with('#'))
                    .map(|l| l.trim_start_matches('#').trim())
                    .collect::<Vec<_>>()
                    .join(" ");
                let objects = Scenario::parse(name, text)
                    .map(|s| s.objects)
                    .unwrap_or_default();
                let kinds: std::collections::BTreeSet<String> = objects
                    .iter()
                    .filter_map(|o| o["kind"].as_str().map(String::from))
                    .collect();
                Listed {
                    name,
                    description,
                    objects: objects.len(),
                    kinds: kinds.into_iter().collect(),
                }
            })
            .collect(),
    )
}

impl Render for Catalogue {
    fn human(&self, wide: bool, style: Style) -> String {
        let mut t = style.plain_table();
        let mut header = vec!["NAME", "DESCRIPTION"];
        if wide {
            header.extend(["OBJECTS", "KINDS"]);
        }
        t.set_header(header);
        for s in &self.0 {
            let mut row = vec![s.name.to_owned(), s.description.clone()];
            if wide {
                row.extend([s.objects.to_string(), s.kinds.join(",")]);
            }
            t.add_row(row);
        }
        format!("{t}\n")
    }
}

/// `apiVersion: lab.lbctl.io/v1, kind: Include` documents expand to generated objects:
/// `cilium-crds` (current Cilium: pools v2 + v2alpha1) or `cilium-crds-v2alpha1` (older Cilium,
/// pools served only as v2alpha1). Returns `None` for ordinary objects.
pub fn expand_include(obj: &Value) -> Result<Option<Vec<Value>>, String> {
    if obj["apiVersion"] != "lab.lbctl.io/v1" || obj["kind"] != "Include" {
        return Ok(None);
    }
    let to_value = |c| serde_json::to_value(c).map_err(|e| e.to_string());
    let mut crds: Vec<Value> = crate::model::all_crds()
        .into_iter()
        .map(to_value)
        .collect::<Result<_, _>>()?;
    match obj["metadata"]["name"].as_str().unwrap_or_default() {
        "cilium-crds" => {}
        "cilium-crds-v2alpha1" => {
            for c in crds
                .iter_mut()
                .filter(|c| c["spec"]["names"]["kind"] == "CiliumLoadBalancerIPPool")
            {
                if let Some(vs) = c["spec"]["versions"].as_array_mut() {
                    vs.retain(|v| v["name"] == "v2alpha1");
                    for v in vs.iter_mut() {
                        v["storage"] = Value::Bool(true);
                        if let Some(m) = v.as_object_mut() {
                            m.remove("deprecated");
                        }
                    }
                }
            }
        }
        other => {
            return Err(format!(
                "unknown include {other:?}; known: cilium-crds, cilium-crds-v2alpha1"
            ))
        }
    }
    Ok(Some(crds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_lists_every_embedded_scenario_with_its_description() {
        let c = catalogue();
        assert_eq!(c.0.len(), EMBEDDED.len());
        let demo = c.0.iter().find(|s| s.name == "demo").unwrap();
        assert!(!demo.description.is_empty() && demo.objects > 0);
        assert!(demo.kinds.iter().any(|k| k == "Service"), "{demo:?}");
        let table = c.human(false, Style::default());
        let wide = c.human(true, Style::default());
        assert!(table.lines().next().unwrap().contains("DESCRIPTION"));
        assert!(wide.lines().next().unwrap().contains("KINDS"));
        assert!(table.contains(&demo.description), "{table}");
    }

    #[test]
    fn embedded_scenarios_parse() {
        for (n, _) in EMBEDDED {
            let s = Scenario::load(n).unwrap();
            assert!(!s.objects.is_empty(), "{n}");
        }
    }

    /// A scenario file added without its `EMBEDDED` entry would be missing from `lab
    /// scenarios` and from `--scenario NAME` in an installed binary.
    #[test]
    fn every_scenario_file_is_embedded_under_its_name() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        files.sort();
        let mut embedded: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        embedded.sort();
        let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&embedded),
            names(&files),
            "scenarios/*.yaml vs EMBEDDED"
        );
        assert_eq!(embedded, files, "each name embeds its own file");
    }

    /// doctor-healthy's lease was renewed "now" when the file was written: loaded today it must
    /// still be fresh, and the other times keep their distance to it.
    #[test]
    fn scenario_time_lands_at_load_time() {
        let mut s = Scenario::load_as_written("doctor-healthy").unwrap();
        let now: jiff::Timestamp = "2031-06-01T12:00:00Z".parse().unwrap();
        assert!(s.shift_time(now) > 0);
        let lease = s.objects.iter().find(|o| o["kind"] == "Lease").unwrap();
        assert_eq!(lease["spec"]["renewTime"], "2031-06-01T12:00:00.000000Z");
        let pool = s
            .objects
            .iter()
            .find(|o| o["kind"] == "CiliumLoadBalancerIPPool")
            .unwrap();
        assert_eq!(
            pool["status"]["conditions"][0]["lastTransitionTime"],
            "2031-06-01T12:00:00Z"
        );
        // Loading reads the clock: the lease is renewed within its duration.
        let s = Scenario::load("doctor-healthy").unwrap();
        let lease = s.objects.iter().find(|o| o["kind"] == "Lease").unwrap();
        let renew: jiff::Timestamp = lease["spec"]["renewTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let age = jiff::Timestamp::now().as_second() - renew.as_second();
        assert!((0..5).contains(&age), "renewed {age}s ago");
    }

    /// With the marker, the scenario's "now" is the marker's time: the expired lease stays 60 s
    /// old however late it is loaded.
    #[test]
    fn the_now_annotation_keeps_a_lease_in_the_past() {
        let mut s = Scenario::load_as_written("doctor-lease-expired").unwrap();
        let now: jiff::Timestamp = "2031-06-01T12:00:00Z".parse().unwrap();
        s.shift_time(now);
        let lease = s.objects.iter().find(|o| o["kind"] == "Lease").unwrap();
        assert_eq!(lease["spec"]["renewTime"], "2031-06-01T11:59:00.000000Z");
        // Not a timestamp: left alone.
        let mut t = Scenario::parse(
            "t",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {d: '2025-01-01', t: '2025-01-01T00:00:00Z'}\n",
        )
        .unwrap();
        t.shift_time(now);
        assert_eq!(t.objects[0]["data"]["d"], "2025-01-01");
        assert_eq!(t.objects[0]["data"]["t"], "2031-06-01T12:00:00Z");
    }

    #[test]
    fn errors_name_the_document_and_line() {
        let e = Scenario::parse(
            "x.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n",
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("x.yaml: document 2 (starting at line 5)"),
            "{s}"
        );
        let e = Scenario::parse("y.yaml", "apiVersion: v1\nkind: Namespace\n").unwrap_err();
        assert!(e.to_string().contains("missing metadata.name"));
    }
}

//! The generated completions/ and man/ are committed; these tests fail when they are stale.

use std::path::Path;

use clap_complete::Shell;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn completions_are_up_to_date() {
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let mut fresh = Vec::new();
        lbctl::completion::write_completion(shell, &mut fresh).unwrap();
        let path = root()
            .join("completions")
            .join(lbctl::cli::completion_file_name(shell));
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale: regenerate with `lbctl completions {shell} > {}`",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    lbctl::cli::write_man_pages(dir.path()).unwrap();
    let mut fresh: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    fresh.sort();
    let mut committed: Vec<_> = std::fs::read_dir(root().join("man"))
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    committed.sort();
    assert_eq!(
        fresh, committed,
        "man/ has a different set of pages: regenerate with `lbctl man --out man`"
    );
    for name in fresh {
        let a = std::fs::read(dir.path().join(&name)).unwrap();
        let b = std::fs::read(root().join("man").join(&name)).unwrap();
        assert!(
            a == b,
            "man/{} is stale: regenerate with `lbctl man --out man`",
            name.to_string_lossy()
        );
    }
    assert!(
        root().join("man/lbctl-lab-up.1").exists(),
        "one page per subcommand"
    );
}

#[test]
fn generated_crds_match_ciliums_own() {
    // Cilium's own CRD manifests (tests/fixtures/cilium-crds, see its README): compare names,
    // versions, printer columns and every spec field with its type.
    let reference_dir = root().join("tests/fixtures/cilium-crds");
    for (file, ours) in [
        (
            "ciliumloadbalancerippools.yaml",
            serde_json::to_value(lbctl::model::pool::crd()).unwrap(),
        ),
        (
            "ciliuml2announcementpolicies.yaml",
            serde_json::to_value(lbctl::model::policy::crd()).unwrap(),
        ),
    ] {
        let text =
            std::fs::read_to_string(reference_dir.join(file)).expect("reference CRD present");
        let theirs: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let ts = &theirs["spec"];
        let os = &ours["spec"];
        assert_eq!(os["group"], ts["group"], "{file}");
        assert_eq!(os["scope"], ts["scope"], "{file}");
        for k in [
            "kind",
            "listKind",
            "plural",
            "singular",
            "shortNames",
            "categories",
        ] {
            assert_eq!(os["names"][k], ts["names"][k], "{file}: names.{k}");
        }
        let tv = ts["versions"].as_array().unwrap();
        let ov = os["versions"].as_array().unwrap();
        assert_eq!(ov.len(), tv.len(), "{file}: versions");
        for t in tv {
            let o = ov
                .iter()
                .find(|o| o["name"] == t["name"])
                .expect("same version names");
            let v = t["name"].as_str().unwrap();
            for k in ["served", "storage"] {
                assert_eq!(o[k], t[k], "{file} {v}: {k}");
            }
            assert_eq!(
                o["deprecated"].as_bool().unwrap_or(false),
                t["deprecated"].as_bool().unwrap_or(false),
                "{file} {v}"
            );
            let cols = |x: &serde_json::Value| -> Vec<(String, String, String)> {
                x["additionalPrinterColumns"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| {
                                (
                                    c["name"].to_string(),
                                    c["type"].to_string(),
                                    c["jsonPath"].to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            assert_eq!(cols(o), cols(t), "{file} {v}: printer columns");
            assert_eq!(
                o["subresources"], t["subresources"],
                "{file} {v}: subresources"
            );
            let mut theirs_fields = vec![];
            fields(
                &t["schema"]["openAPIV3Schema"]["properties"]["spec"],
                "spec",
                &mut theirs_fields,
            );
            let mut our_fields = vec![];
            fields(
                &o["schema"]["openAPIV3Schema"]["properties"]["spec"],
                "spec",
                &mut our_fields,
            );
            // Our v2alpha1 keeps the deprecated `cidrs` that older Cilium releases served.
            our_fields.retain(|(p, _)| !p.starts_with("spec.cidrs"));
            assert_eq!(
                our_fields, theirs_fields,
                "{file} {v}: spec fields and types"
            );
        }
    }
}

/// Every field path under a schema node with its type (and enum/format where given).
fn fields(s: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    let mut ty = s["type"].as_str().unwrap_or("").to_string();
    if let Some(e) = s["enum"].as_array() {
        ty.push_str(&format!(" enum{e:?}"));
    }
    if let Some(f) = s["format"].as_str() {
        ty.push_str(&format!(" format={f}"));
    }
    out.push((path.to_string(), ty));
    if let Some(props) = s["properties"].as_object() {
        let mut keys: Vec<_> = props.keys().collect();
        keys.sort();
        for k in keys {
            fields(&props[k], &format!("{path}.{k}"), out);
        }
    }
    if s["items"].is_object() {
        fields(&s["items"], &format!("{path}[]"), out);
    }
    if s["additionalProperties"].is_object() {
        fields(&s["additionalProperties"], &format!("{path}{{}}"), out);
    }
}

#[test]
fn deploy_crds_are_up_to_date() {
    let fresh = lbctl::cli::crds_yaml().unwrap();
    let committed = std::fs::read_to_string(root().join("deploy/crds.yaml")).unwrap_or_default();
    assert!(
        committed == fresh,
        "deploy/crds.yaml is stale: regenerate with `lbctl crds > deploy/crds.yaml`"
    );
    // And it is what a real API server would accept: the lab loads it.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("crds.yaml");
    std::fs::write(&f, &fresh).unwrap();
    let s = lbctl::lab::Scenario::load(f.to_str().unwrap()).unwrap();
    assert_eq!(s.objects.len(), 3);
    let lab = lbctl::lab::Lab::start("127.0.0.1:0".parse().unwrap(), &[s]).unwrap();
    drop(lab);
}

//! The layers of docs/architecture.md, checked against the code: every `crate::MODULE` path in
//! `src/` (comments aside) must name a module in a lower layer than its own, or one of the few
//! allowed neighbours. A new dependency that goes up the picture fails here, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first, as drawn in docs/architecture.md.
const LAYERS: &[(&str, u8)] = &[
    ("model", 0),
    ("output", 0),
    ("duration", 0),
    ("exposition", 0),
    ("cli", 1),
    ("ipam", 2),
    ("lease", 2),
    ("net", 2),
    ("cluster", 2),
    ("netns", 2),
    ("l2", 3),
    ("serve", 4),
    ("doctor", 4),
    ("lab", 4),
    ("debug", 4),
    ("demo", 5),
    ("completion", 5),
];

/// Arrows allowed inside one layer: serve answers the protocol that debug speaks.
const SIDEWAYS: &[(&str, &str)] = &[("serve", "debug")];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::NAME` paths in code (line comments and doc comments dropped).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` in macros and `lbctl_crate::` style names are not ours.
            let before = rest[..i].chars().last();
            if !name.is_empty() && !matches!(before, Some('$' | '_') | Some('a'..='z')) {
                out.insert(name);
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = vec![];
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let Some(own) = layer(&top) else {
            wrong.push(format!(
                "src/{}: module `{top}` is not in docs/architecture.md's layers (add it there and here)",
                rel.display()
            ));
            continue;
        };
        for used in crate_paths(&std::fs::read_to_string(&f).unwrap()) {
            if used == top {
                continue;
            }
            found.entry(top.clone()).or_default().insert(used.clone());
            let Some(theirs) = layer(&used) else {
                continue; // a crate-root item, not a module
            };
            let sideways = SIDEWAYS.contains(&(top.as_str(), used.as_str()));
            if theirs > own || (theirs == own && !sideways) {
                wrong.push(format!(
                    "src/{} (layer {own}) uses crate::{used} (layer {theirs})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against docs/architecture.md:\n{}\n(all found: {found:#?})",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_what_it_should() {
    let paths = crate_paths(
        "use crate::model::names;\n// crate::serve in a comment\nlet x = crate::ipam::alloc::f();\n$crate::m!();\n",
    );
    assert_eq!(
        paths,
        ["ipam", "model"].into_iter().map(String::from).collect()
    );
}

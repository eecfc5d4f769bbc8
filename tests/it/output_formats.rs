//! `-o table|wide|json|yaml` behave the same on every command that prints a result: JSON parses
//! as JSON, YAML as YAML, the table and the wide table are not JSON, and the wide table has every
//! column of the table. A command added to the CLI fails here until it is walked or exempted.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netlan::Lan;
use crate::support::{self, LabWithConfig};

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const FORMATS: [&str; 4] = ["table", "wide", "json", "yaml"];

/// Commands walked by the tests below.
const WALKED: &[&str] = &[
    "arp-probe",
    "doctor",
    "pools",
    "policies",
    "leases",
    "lab scenarios",
    "debug l2-announce",
    "debug devices",
    "debug ipam",
];

/// Commands that print no result to format, and why.
const EXEMPT: &[(&str, &str)] = &[
    (
        "serve",
        "runs the engine; prints where it listens, then logs",
    ),
    ("lab up", "runs the lab; prints its URL and KUBECONFIG line"),
    ("lab demo", "tells a story, with doctor's tables inside"),
    ("crds", "prints manifests, YAML for `kubectl apply -f -`"),
    ("completions", "prints a shell script"),
    ("man", "writes files"),
];

/// Every leaf command of the CLI, as words (`lab scenarios`).
fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{prefix}{}", sub.get_name());
        if sub.has_subcommands() {
            leaves(sub, &format!("{name} "), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn every_command_is_walked_or_exempt() {
    let mut all = Vec::new();
    leaves(&lbctl::cli::command(), "", &mut all);
    for c in &all {
        assert!(
            WALKED.contains(&c.as_str()) || EXEMPT.iter().any(|(e, _)| e == c),
            "`lbctl {c}` is new: walk its -o forms in tests/it/output_formats.rs, or exempt it"
        );
    }
    for c in WALKED.iter().chain(EXEMPT.iter().map(|(c, _)| c)) {
        assert!(all.iter().any(|a| a == c), "`lbctl {c}` is gone");
    }
}

/// The column names of the first table header in `text` (a line of upper-case words; ruled
/// tables separate cells with box characters, plain ones with two or more spaces).
fn header(text: &str) -> Option<Vec<String>> {
    text.lines()
        .find(|l| {
            let letters: Vec<char> = l.chars().filter(|c| c.is_alphabetic()).collect();
            letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase())
        })
        .map(|l| {
            l.replace(['│', '┆', '║', '|'], "  ")
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
}

/// Runs `run(format)` for every format and checks what each must be.
fn walk(what: &str, run: impl Fn(&str) -> Output) {
    let mut human = Vec::new();
    for format in FORMATS {
        let out = run(format);
        let text = support::stdout(&out);
        let ctx = format!(
            "lbctl {what} -o {format} (exit {:?})\n{text}\nstderr: {}",
            out.status.code(),
            support::stderr(&out)
        );
        // 1 is a finding (a failing rung), not a failure to print.
        assert!(matches!(out.status.code(), Some(0 | 1)), "{ctx}");
        assert!(!text.trim().is_empty(), "{ctx}");
        let json = serde_json::from_str::<Value>(&text);
        match format {
            "json" => assert!(
                json.as_ref().is_ok_and(|v| v.is_object() || v.is_array()),
                "not a JSON document: {json:?}\n{ctx}"
            ),
            "yaml" => {
                // Any text parses as a YAML string: a result is a mapping or a list.
                let yaml = serde_saphyr::from_str::<Value>(&text);
                assert!(
                    yaml.as_ref().is_ok_and(|v| v.is_object() || v.is_array()),
                    "not a YAML document: {yaml:?}\n{ctx}"
                );
                assert!(json.is_err(), "YAML that is JSON\n{ctx}");
            }
            _ => {
                assert!(json.is_err(), "JSON in a table\n{ctx}");
                let h = header(&text).unwrap_or_else(|| panic!("no table header\n{ctx}"));
                human.push((h, ctx));
            }
        }
    }
    let [(table, tctx), (wide, wctx)] = <[_; 2]>::try_from(human).unwrap();
    for c in &table {
        assert!(
            wide.contains(c),
            "-o wide lacks the table's column {c:?}\n{tctx}\n{wctx}"
        );
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `ask` returns a JSON answer that `ready` accepts.
fn wait_for(what: &str, ask: impl Fn() -> Output, ready: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let out = ask();
        if serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| ready(&v)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} never became ready: {}{}",
            support::stdout(&out),
            support::stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cluster_commands_print_every_format() {
    let lab = LabWithConfig::new(&["doctor-healthy"]);
    let kc = lab.kubeconfig();
    let sock = lab.dir.path().join("debug.sock");
    let sock = sock.to_str().unwrap();
    let _serve = Killed(
        Command::new(LBCTL)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["serve", "--no-announce", "--node-name", "formats"])
            .args(["--metrics-addr", "127.0.0.1:0", "--debug-socket", sock])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let debug = |format: &str| {
        support::lbctl(
            None,
            &["debug", "ipam", "--debug-socket", sock, "-o", format],
        )
    };
    wait_for(
        "serve's IPAM",
        || debug("json"),
        |v| v["leader"] == true && v["pools"].as_array().is_some_and(|p| !p.is_empty()),
    );
    walk("debug ipam", debug);
    for args in [
        &["doctor", "-n", "demo", "svc/demo-web", "--no-probe"][..],
        &["doctor", "--all", "-A", "--no-probe"],
        &["pools"],
        &["policies"],
        &["leases"],
    ] {
        walk(&args.join(" "), |format| {
            let mut a = args.to_vec();
            a.extend(["-o", format]);
            support::lbctl(Some(&kc), &a)
        });
    }
    walk("lab scenarios", |format| {
        support::lbctl(None, &["lab", "scenarios", "-o", format])
    });
}

/// A LAN with the lab in "api", `serve --announce` on n1 answering for one VIP, and a client.
fn lan_scenario(dir: &Path) -> String {
    let yaml = "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata: {name: cilium-crds}\n---\n\
        apiVersion: v1\nkind: Namespace\nmetadata: {name: lan}\n---\n\
        apiVersion: cilium.io/v2alpha1\nkind: CiliumL2AnnouncementPolicy\nmetadata: {name: lan}\n\
        spec: {loadBalancerIPs: true, interfaces: ['^eth0$']}\n---\n\
        apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {kubernetes.io/hostname: n1}}\n\
        status: {conditions: [{type: Ready, status: 'True'}]}\n---\n\
        apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: lan}\n\
        spec: {type: LoadBalancer, ports: [{port: 80}]}\n\
        status: {loadBalancer: {ingress: [{ip: '10.77.0.100'}]}}\n";
    let p = dir.join("lan.yaml");
    std::fs::write(&p, yaml).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn lan_commands_print_every_format() {
    let Some(lan) = Lan::try_new("lan_commands_print_every_format", &["api", "client", "n1"])
    else {
        return;
    };
    // serve selects eth0 as Cilium would: the device holding the default route.
    lan.ip("n1", &["route", "add", "default", "dev", "eth0"]);
    let dir = tempfile::tempdir().unwrap();
    let lab = support::LabInNetns::start(&lan, "api", dir.path(), &lan_scenario(dir.path()), &[]);
    let _serve = Killed(
        lan.serve_announce(
            "n1",
            LBCTL,
            &lab.kubeconfig,
            dir.path(),
            ["2s", "1s", "200ms"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let sock = dir.path().join("n1.sock");
    let sock = sock.to_str().unwrap();
    for topic in ["l2-announce", "devices"] {
        let debug = |format: &str| {
            lan.exec(
                "n1",
                LBCTL,
                &["debug", topic, "--debug-socket", sock, "-o", format],
            )
        };
        wait_for(
            topic,
            || debug("json"),
            |v| v.as_array().is_some_and(|rows| !rows.is_empty()),
        );
        walk(&format!("debug {topic}"), debug);
    }
    let vip = "10.77.0.100";
    wait_for(
        "the VIP's owner",
        || {
            lan.exec(
                "client",
                LBCTL,
                &["arp-probe", vip, "--timeout", "300ms", "-o", "json"],
            )
        },
        |v| v["verdict"] == "one_owner",
    );
    walk("arp-probe", |format| {
        lan.exec("client", LBCTL, &["arp-probe", vip, "-o", format])
    });
    // --watch streams: a JSON line, or a YAML document, per event.
    for format in ["json", "yaml", "table"] {
        let out = lan.exec(
            "client",
            LBCTL,
            &[
                "arp-probe",
                vip,
                "--watch",
                "--duration",
                "1s",
                "-o",
                format,
            ],
        );
        let text = support::stdout(&out);
        let ctx = format!("arp-probe --watch -o {format}\n{text}");
        assert!(!text.trim().is_empty(), "{ctx}");
        match format {
            "json" => {
                for line in text.lines() {
                    let v: Value =
                        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}\n{ctx}"));
                    assert_eq!(v["schema"], "lbctl.arp-probe.watch/v1", "{ctx}");
                }
            }
            "yaml" => {
                let docs: Vec<Value> =
                    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{e}\n{ctx}"));
                assert!(docs.len() >= 2, "started and owners events\n{ctx}");
                assert!(docs
                    .iter()
                    .all(|d| d["schema"] == "lbctl.arp-probe.watch/v1"));
            }
            _ => assert!(
                text.lines()
                    .all(|l| serde_json::from_str::<Value>(l).is_err()),
                "{ctx}"
            ),
        }
    }
    lab.stop();
}

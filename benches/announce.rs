//! `lbctl serve --announce` on a namespace LAN: ARP reply latency against the kernel's own in
//! the same run, failover times after SIGKILL and SIGTERM, the lease write rate per Service,
//! and the RSS of an announcer holding 1,000 VIPs.
//!
//! Needs root (network namespaces); skips with a message otherwise.
//! Run: `cargo bench --bench announce` (env `BENCH_ROUNDS`, default 5 failovers each).

#[path = "common.rs"]
mod common;
#[path = "../tests/it/netlan.rs"]
mod netlan;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{arping_rtts, median, pct, rss_kib};
use netlan::Lan;

const BIN: &str = env!("CARGO_BIN_EXE_lbctl");
const VIP: &str = "10.77.0.100";
const NODES: [&str; 3] = ["n1", "n2", "n3"];

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `services` LoadBalancer Services with VIPs 10.77.1.0 upwards (the first is `VIP`), one
/// policy announcing them on eth0, three nodes.
fn scenario(dir: &Path, services: usize) -> PathBuf {
    let mut y = String::from(
        "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata: {name: cilium-crds}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: lan}\n---\n\
         apiVersion: cilium.io/v2alpha1\nkind: CiliumL2AnnouncementPolicy\nmetadata: {name: lan}\n\
         spec: {loadBalancerIPs: true, interfaces: ['^eth0$']}\n",
    );
    for n in NODES {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}}}\n"
        ));
    }
    for i in 0..services {
        let ip = if i == 0 {
            VIP.to_string()
        } else {
            format!("10.77.{}.{}", 1 + i / 250, 1 + i % 250)
        };
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: lan}}\n\
             spec: {{type: LoadBalancer, allocateLoadBalancerNodePorts: false, ports: [{{port: 80}}]}}\n\
             status: {{loadBalancer: {{ingress: [{{ip: '{ip}'}}]}}}}\n"
        ));
    }
    let p = dir.join(format!("lan-{services}.yaml"));
    std::fs::write(&p, y).expect("scenario");
    p
}

fn start_lab(lan: &Lan, dir: &Path, scenario: &Path) -> (Proc, PathBuf) {
    let kc = dir.join("kubeconfig");
    let listen = format!("{}:0", lan.host("api").ipv4);
    let mut child = lan
        .command(
            "api",
            BIN,
            &[
                "lab",
                "up",
                "--listen",
                &listen,
                "--scenario",
                scenario.to_str().unwrap(),
                "--kubeconfig-out",
                kc.to_str().unwrap(),
                "--request-log",
                dir.join("requests.jsonl").to_str().unwrap(),
                // The bench measures its own serve processes: no engine inside the lab.
                "--no-engine",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("lab up");
    // Both lines, or lab up dies of SIGPIPE.
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let _ = lines.next();
    let _ = lines.next();
    (Proc(child), kc)
}

fn start_serve(lan: &Lan, node: &str, kc: &Path, dir: &Path, timings: [&str; 3]) -> Proc {
    // Kind-style node: its veth eth0 holds the default route, so serve selects it.
    lan.ip(node, &["route", "replace", "default", "dev", "eth0"]);
    let child = lan
        .serve_announce(node, BIN, kc, dir, timings)
        .stdout(Stdio::null())
        .stderr(match std::env::var("BENCH_SERVE_LOG") {
            Ok(p) => Stdio::from(std::fs::File::create(format!("{p}.{node}")).expect("log")),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .expect("serve");
    Proc(child)
}

/// The single MAC answering for `ip` (from `lbctl arp-probe -o json`), if exactly one.
fn owner(lan: &Lan, ip: &str) -> Option<String> {
    let mut macs = lan.arp_owners("client", BIN, ip, ["20ms", "150ms", "60ms"]);
    (macs.len() == 1).then(|| macs.remove(0))
}

fn node_of(lan: &Lan, mac: &str) -> Option<&'static str> {
    NODES.into_iter().find(|n| lan.host(n).mac == mac)
}

fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let t = Instant::now();
    while t.elapsed() < within {
        if let Some(v) = f() {
            return Some((v, t.elapsed()));
        }
    }
    None
}

fn main() {
    if !netlan::is_root() {
        println!("announce bench SKIPPED: needs root for network namespaces");
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("serve --announce benchmark (namespace LAN; 2 shared cores)");

    // 1 + 2: latency and failover with short timings (BENCH_ONLY=scale skips to 3 + 4).
    if std::env::var("BENCH_ONLY").as_deref() != Ok("scale") {
        let lan = Lan::new(&["api", "client", "n1", "n2", "n3", "kernel"]);
        let dir = tempfile::tempdir().expect("tmp");
        let (_lab, kc) = start_lab(&lan, dir.path(), &scenario(dir.path(), 1));
        let short = ["2s", "1s", "200ms"];
        let mut nodes: Vec<(String, Proc)> = NODES
            .iter()
            .map(|n| (n.to_string(), start_serve(&lan, n, &kc, dir.path(), short)))
            .collect();
        wait_for(Duration::from_secs(15), || owner(&lan, VIP)).expect("an owner");
        let kernel_ip = lan.host("kernel").ipv4.to_string();
        let mut ours = Vec::new();
        let mut kern = Vec::new();
        // Interleaved so both see the same machine load. iputils arping takes whole seconds
        // for -i, so each round is 6 requests a second apart.
        for _ in 0..3 {
            let a = lan.exec(
                "client",
                "arping",
                &["-c", "6", "-w", "8", "-I", "eth0", VIP],
            );
            ours.extend(arping_rtts(&String::from_utf8_lossy(&a.stdout)));
            let b = lan.exec(
                "client",
                "arping",
                &["-c", "6", "-w", "8", "-I", "eth0", &kernel_ip],
            );
            kern.extend(arping_rtts(&String::from_utf8_lossy(&b.stdout)));
        }
        let (mo, mk) = (median(ours.clone()), median(kern.clone()));
        println!(
            "ARP reply latency, arping from the client ({} / {} replies):",
            ours.len(),
            kern.len()
        );
        println!(
            "  lbctl serve (AF_PACKET responder)  median {mo:.3} ms  p90 {:.3} ms",
            pct(ours, 0.9)
        );
        println!(
            "  kernel, own address                median {mk:.3} ms  p90 {:.3} ms",
            pct(kern, 0.9)
        );
        println!(
            "  ratio serve/kernel at the median   {:.2}x (goal <= 1.5x)",
            mo / mk
        );

        let mut kill = Vec::new();
        let mut term = Vec::new();
        for r in 0..rounds * 2 {
            let Some((mac, _)) = wait_for(Duration::from_secs(10), || owner(&lan, VIP)) else {
                break;
            };
            let Some(leader) = node_of(&lan, &mac) else {
                break;
            };
            let i = nodes
                .iter()
                .position(|(n, _)| n == leader)
                .expect("leader runs");
            let (name, p) = nodes.remove(i);
            let sigkill = r % 2 == 0;
            let t = Instant::now();
            if sigkill {
                drop(p);
            } else {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(p.0.id() as libc::pid_t, libc::SIGTERM) };
            }
            let moved = wait_for(Duration::from_secs(10), || {
                owner(&lan, VIP).filter(|m| *m != mac)
            });
            let took = t.elapsed().as_secs_f64() * 1000.0;
            if moved.is_some() {
                if sigkill {
                    kill.push(took)
                } else {
                    term.push(took)
                }
            }
            // Bring the node back for the next round.
            nodes.push((
                name.clone(),
                start_serve(&lan, &name, &kc, dir.path(), short),
            ));
            std::thread::sleep(Duration::from_millis(300));
        }
        println!("failover with timings 2s/1s/200ms (signal -> a probe sees the new owner):");
        println!("  SIGKILL  median {:.0} ms  max {:.0} ms  (n={}; bound: lease duration + retry period = 2200 ms)", median(kill.clone()), pct(kill.clone(), 1.0), kill.len());
        println!(
            "  SIGTERM  median {:.0} ms  max {:.0} ms  (n={}; goal <= 1000 ms)",
            median(term.clone()),
            pct(term.clone(), 1.0),
            term.len()
        );

        // Cilium's defaults, once each.
        drop(nodes);
        std::thread::sleep(Duration::from_millis(500));
        let defaults = ["15s", "5s", "2s"];
        let mut nodes: Vec<(String, Proc)> = NODES
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    start_serve(&lan, n, &kc, dir.path(), defaults),
                )
            })
            .collect();
        // The old lease may still name a killed node: wait for it to expire and a new owner.
        let (mac, _) = wait_for(Duration::from_secs(40), || owner(&lan, VIP)).expect("an owner");
        let leader = node_of(&lan, &mac).expect("a node");
        let i = nodes.iter().position(|(n, _)| n == leader).expect("runs");
        let (_, p) = nodes.remove(i);
        let t = Instant::now();
        drop(p);
        let kill_default = wait_for(Duration::from_secs(40), || {
            owner(&lan, VIP).filter(|m| *m != mac)
        })
        .map(|_| t.elapsed());
        let (mac, _) = wait_for(Duration::from_secs(40), || owner(&lan, VIP)).expect("an owner");
        let leader = node_of(&lan, &mac).expect("a node");
        let i = nodes.iter().position(|(n, _)| n == leader).expect("runs");
        let (_, p) = nodes.remove(i);
        let t = Instant::now();
        unsafe { libc::kill(p.0.id() as libc::pid_t, libc::SIGTERM) };
        let term_default = wait_for(Duration::from_secs(40), || {
            owner(&lan, VIP).filter(|m| *m != mac)
        })
        .map(|_| t.elapsed());
        drop(p);
        println!("failover with Cilium's defaults 15s/5s/2s: SIGKILL {kill_default:?} (bound 17 s), SIGTERM {term_default:?}");
    }

    // 3 + 4: lease writes per Service and RSS with 1,000 VIPs on one node.
    {
        let n: usize = std::env::var("BENCH_VIPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let lan = Lan::new(&["api", "client", "n1"]);
        let dir = tempfile::tempdir().expect("tmp");
        let (lab, kc) = start_lab(&lan, dir.path(), &scenario(dir.path(), n));
        let node = start_serve(&lan, "n1", &kc, dir.path(), ["15s", "5s", "2s"]);
        let sock = dir.path().join("n1.sock");
        let held = wait_for(Duration::from_secs(120), || {
            (lan.l2_announce_rows("n1", BIN, &sock).len() >= n).then_some(())
        });
        let took = held.map(|(_, d)| d);
        let rss = rss_kib(node.0.id()).unwrap_or(0);
        let log = dir.path().join("requests.jsonl");
        let count_puts = || -> usize {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"method\":\"PUT\"") && l.contains("/leases/"))
                .count()
        };
        let before = count_puts();
        let window = Duration::from_secs(10);
        // While renewals run, sample how many held entries are still provably ours: an entry
        // whose renew deadline passed is fenced (not answered) until the next renew lands.
        let t0 = Instant::now();
        let mut fenced_samples = Vec::new();
        while t0.elapsed() < window {
            // An empty answer is a failed sample (serve too busy to answer), not a clean one.
            let rows = lan.l2_announce_rows("n1", BIN, &sock);
            if !rows.is_empty() {
                let fenced = rows.iter().filter(|r| r["valid"] != true).count();
                fenced_samples.push(fenced as f64);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let writes = count_puts() - before;
        // kube's client speaks HTTP/1.1: every request in flight needs its own connection.
        let conns = String::from_utf8_lossy(
            &lan.exec("n1", "ss", &["-Htn", "state", "established"])
                .stdout,
        )
        .lines()
        .count();
        let rate = writes as f64 / window.as_secs_f64();
        println!("one node holding {n} Service leases (timings 15s/5s/2s):");
        println!("  all {n} VIPs announced after {took:?}");
        println!(
            "  entries not provably ours (fenced) while renewing: max {:.0} of {n} over {} samples",
            pct(fenced_samples.clone(), 1.0),
            fenced_samples.len()
        );
        println!(
            "  RSS {:.1} MiB (goal <= 64 MiB for the whole serve at 10,000 Services)",
            rss as f64 / 1024.0
        );
        println!(
            "  lease renewals: {writes} PUTs in {window:?} = {rate:.0}/s = {:.3}/s per Service",
            rate / n as f64
        );
        println!("  TCP connections from the node to the API server: {conns}");
        // Cilium sizes the agent's client QPS as #services / renewDeadline (its L2 announcer
        // docs); client-go's elector renews every retry period instead.
        println!("  Cilium's sizing: QPS = #services / renewDeadline = {:.0}/s; client-go renews every retry period (2 s) = {:.0}/s", n as f64 / 5.0, n as f64 / 2.0);
        drop(node);
        drop(lab);
    }
}

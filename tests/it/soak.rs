//! The chaos soak: the real processes on a namespace LAN — the lab (in this process, inside the
//! LAN's `api` namespace so faults can be injected directly), `serve --ipam` twice,
//! `serve --announce` on three nodes, and a client — run for a bounded time while faults drawn
//! from a seeded generator hit them: SIGKILL / SIGTERM / SIGSTOP+SIGCONT of any serve, cut
//! watches, injected 409/410/429/500 and latency, expired resourceVersions, carrier loss on a
//! node, Service and pool churn, policy edits. Invariants are checked from the outside all along
//! (the lab's state and ARP probes from the client), and once more after the faults stop.
//!
//! `LBCTL_SOAK_SECS` (default 40) sets the time under faults, `LBCTL_SOAK_SEED` replays a run
//! (the seed is printed at the start; the same seed gives the same fault schedule),
//! `LBCTL_SOAK_REPORT=FILE` writes the figures as JSON. docs/benchmarks.md has the long run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use lbctl::lab::{Fault, Lab, Scenario};
use serde_json::{json, Value};

use crate::netlan::Lan;

const LBCTL: &str = env!("CARGO_BIN_EXE_lbctl");
const NODES: [&str; 3] = ["n1", "n2", "n3"];
const NS: &str = "soak";
const LEASE_NS: &str = "kube-system";
/// Short lease timings, so takeovers fit a short CI run.
const TIMINGS: [&str; 3] = ["2s", "1s", "200ms"];
/// The stable pool, never touched by churn: 10.77.0.100–139.
const STABLE: (u8, u8) = (100, 139);
/// The pool that churn creates and deletes: 10.77.0.160–175.
const CHURN: (u8, u8) = (160, 175);
/// Services present from the start and never changed: their IPs must never move.
const STABLE_SERVICES: usize = 6;

/// How long an IPAM-level anomaly may last before it counts (a reconcile after a change, a
/// stopped leader resumed, a lease taken over).
const IPAM_GRACE: Duration = Duration::from_secs(15);
/// How long two MACs may answer for one VIP (a takeover) before it counts.
const DUPLICATE_GRACE: Duration = Duration::from_secs(2);
/// How long a VIP may go unanswered while its holder is running with its link up and says it
/// leads the VIP (its debug socket shows a valid entry) before it counts: the silent holder.
///
/// A holder whose lease writes land on the server but whose requests do not come back within
/// the renew deadline (an overloaded API server or machine) keeps the Lease fresh for everyone
/// else yet cannot prove it leads, so it rightly stays silent: that is fencing, reported as a
/// figure (`fenced_vip_seconds`), not a violation. The bug this catches is the other case, a
/// node that believes it leads and does not answer.
const SILENT_GRACE: Duration = Duration::from_secs(6);
/// After the faults stop, every Service must converge within this.
const CONVERGE_WITHIN: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// The schedule: pure, from the seed alone.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcId {
    IpamA,
    IpamB,
    Node(usize),
}

impl ProcId {
    const ALL: [ProcId; 5] = [
        ProcId::IpamA,
        ProcId::IpamB,
        ProcId::Node(0),
        ProcId::Node(1),
        ProcId::Node(2),
    ];
    fn name(self) -> String {
        match self {
            ProcId::IpamA => "ipam-a".into(),
            ProcId::IpamB => "ipam-b".into(),
            ProcId::Node(i) => format!("announce-{}", NODES[i]),
        }
    }
    /// The namespace it runs in: the IPAM replicas share nodes with announcers, so a node's
    /// carrier loss cuts both.
    fn host(self) -> &'static str {
        match self {
            ProcId::IpamA | ProcId::Node(0) => NODES[0],
            ProcId::IpamB | ProcId::Node(1) => NODES[1],
            ProcId::Node(_) => NODES[2],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Kill(ProcId),
    Term(ProcId),
    Stop(ProcId),
    Cont(ProcId),
    Restart(ProcId),
    CutWatches,
    ExpireVersions,
    Inject {
        path: &'static str,
        status: Option<u16>,
        delay_ms: Option<u64>,
        count: usize,
    },
    CarrierDown(usize),
    CarrierUp(usize),
    CreateService {
        name: String,
        port: i32,
        sharing_key: Option<&'static str>,
        churn_pool: bool,
        requested: Option<String>,
    },
    DeleteService(u32),
    FlipType(u32),
    RequestIp(u32, Option<String>),
    SharingKey(u32, Option<&'static str>),
    CreateChurnPool,
    DeleteChurnPool,
    PolicyExclude(Option<usize>),
    /// Sabotage for the checker's own test, never drawn by [`schedule`]: the bridge stops
    /// forwarding between the nodes and the client (isolated ports) while the API stays
    /// reachable, so holders keep their leases and believe they lead, yet no answer arrives.
    Isolate(bool),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Kill(_) => "sigkill",
            Action::Term(_) => "sigterm",
            Action::Stop(_) => "sigstop",
            Action::Cont(_) => "sigcont",
            Action::Restart(_) => "restart",
            Action::CutWatches => "cut_watches",
            Action::ExpireVersions => "expire_resource_versions",
            Action::Inject {
                status: Some(s), ..
            } => match s {
                409 => "inject_409",
                410 => "inject_410",
                429 => "inject_429",
                _ => "inject_500",
            },
            Action::Inject { .. } => "inject_latency",
            Action::CarrierDown(_) => "carrier_down",
            Action::CarrierUp(_) => "carrier_up",
            Action::CreateService { .. } => "svc_create",
            Action::DeleteService(_) => "svc_delete",
            Action::FlipType(_) => "svc_change_type",
            Action::RequestIp(..) => "svc_change_requested_ip",
            Action::SharingKey(..) => "svc_change_sharing_key",
            Action::CreateChurnPool => "pool_create",
            Action::DeleteChurnPool => "pool_delete",
            Action::PolicyExclude(_) => "policy_edit",
            Action::Isolate(_) => "isolate",
        }
    }
    /// Whether it is a fault (as opposed to churn or undoing a fault).
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            Action::Cont(_) | Action::Restart(_) | Action::CarrierUp(_)
        ) && !self.kind().starts_with("svc_")
            && !self.kind().starts_with("pool_")
            && self.kind() != "policy_edit"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub action: Action,
}

fn churn_name(n: u32) -> String {
    format!("churn-{n}")
}

fn requested_ip(rng: &mut fastrand::Rng) -> Option<String> {
    match rng.u8(0..4) {
        0 => None,
        // Outside every pool: refused with no_pool until the request changes.
        1 => Some("10.77.0.250".into()),
        _ => Some(format!("10.77.0.{}", rng.u8(STABLE.0 + 20..=STABLE.1))),
    }
}

/// The whole run's schedule. Undo steps (restart, SIGCONT, carrier up) are drawn with their
/// fault, so the sequence depends on the seed only.
pub fn schedule(seed: u64, total: Duration) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut steps = vec![];
    let mut busy: HashMap<ProcId, Duration> = HashMap::new();
    let mut carrier_busy = [Duration::ZERO; 3];
    let mut services: Vec<u32> = vec![];
    let mut next_service = 0u32;
    let mut churn_pool = false;
    let mut t = Duration::from_millis(500);
    let ms = |v: u64| Duration::from_millis(v);
    while t < total {
        let action = match rng.u8(0..20) {
            0..=5 => {
                let p = ProcId::ALL[rng.usize(0..ProcId::ALL.len())];
                if busy.get(&p).is_some_and(|b| *b > t) {
                    None
                } else {
                    let back = t + ms(rng.u64(300..2500));
                    busy.insert(p, back + ms(300));
                    match rng.u8(0..3) {
                        0 => {
                            steps.push(Step {
                                at: back,
                                action: Action::Restart(p),
                            });
                            Some(Action::Kill(p))
                        }
                        1 => {
                            steps.push(Step {
                                at: back,
                                action: Action::Restart(p),
                            });
                            Some(Action::Term(p))
                        }
                        _ => {
                            steps.push(Step {
                                at: back,
                                action: Action::Cont(p),
                            });
                            Some(Action::Stop(p))
                        }
                    }
                }
            }
            6 => Some(Action::CutWatches),
            7 => Some(Action::ExpireVersions),
            8 | 9 => {
                let path = [
                    "leases",
                    "services",
                    "ciliumloadbalancerippools",
                    "/status",
                    "ciliuml2announcementpolicies",
                ][rng.usize(0..5)];
                let status = [Some(409), Some(410), Some(429), Some(500), None][rng.usize(0..5)];
                Some(Action::Inject {
                    path,
                    status,
                    delay_ms: status.is_none().then(|| rng.u64(100..1200)),
                    count: rng.usize(1..4),
                })
            }
            10 => {
                let n = rng.usize(0..3);
                if carrier_busy[n] > t {
                    None
                } else {
                    let back = t + ms(rng.u64(500..3000));
                    carrier_busy[n] = back + ms(300);
                    steps.push(Step {
                        at: back,
                        action: Action::CarrierUp(n),
                    });
                    Some(Action::CarrierDown(n))
                }
            }
            11..=13 => {
                let n = next_service;
                next_service += 1;
                services.push(n);
                Some(Action::CreateService {
                    name: churn_name(n),
                    port: [80, 443, 8080][rng.usize(0..3)],
                    sharing_key: [None, Some("k1"), Some("k2")][rng.usize(0..3)],
                    churn_pool: rng.u8(0..4) == 0,
                    requested: if rng.bool() {
                        None
                    } else {
                        requested_ip(&mut rng)
                    },
                })
            }
            14 if !services.is_empty() => {
                let i = rng.usize(0..services.len());
                Some(Action::DeleteService(services.swap_remove(i)))
            }
            15 if !services.is_empty() => {
                Some(Action::FlipType(services[rng.usize(0..services.len())]))
            }
            16 if !services.is_empty() => Some(Action::RequestIp(
                services[rng.usize(0..services.len())],
                requested_ip(&mut rng),
            )),
            17 if !services.is_empty() => Some(Action::SharingKey(
                services[rng.usize(0..services.len())],
                [None, Some("k1"), Some("k2")][rng.usize(0..3)],
            )),
            18 => {
                churn_pool = !churn_pool;
                Some(if churn_pool {
                    Action::CreateChurnPool
                } else {
                    Action::DeleteChurnPool
                })
            }
            19 => Some(Action::PolicyExclude(if rng.bool() {
                None
            } else {
                Some(rng.usize(0..3))
            })),
            _ => None,
        };
        if let Some(action) = action {
            steps.push(Step { at: t, action });
        }
        t += ms(rng.u64(250..1200));
    }
    steps.sort_by_key(|s| s.at);
    steps
}

// ---------------------------------------------------------------------------------------------
// Pure invariant helpers.

/// What the soak needs of one Service.
#[derive(Debug, Clone)]
pub struct SvcView {
    pub name: String,
    pub lb: bool,
    pub ips: Vec<IpAddr>,
    pub sharing_key: Option<String>,
    pub ports: BTreeSet<(i32, String)>,
    /// The satisfied condition: (status, reason).
    pub condition: Option<(String, String)>,
}

impl SvcView {
    pub fn from(svc: &Service) -> SvcView {
        let ann = svc.metadata.annotations.clone().unwrap_or_default();
        let spec = svc.spec.clone().unwrap_or_default();
        let status = svc.status.clone().unwrap_or_default();
        SvcView {
            name: svc.metadata.name.clone().unwrap_or_default(),
            lb: spec.type_.as_deref() == Some("LoadBalancer"),
            ips: status
                .load_balancer
                .and_then(|l| l.ingress)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .collect(),
            sharing_key: ann.get("lbipam.cilium.io/sharing-key").cloned(),
            ports: spec
                .ports
                .unwrap_or_default()
                .iter()
                .map(|p| (p.port, p.protocol.clone().unwrap_or_else(|| "TCP".into())))
                .collect(),
            condition: status.conditions.unwrap_or_default().iter().find_map(|c| {
                (c.type_ == "cilium.io/IPAMRequestSatisfied")
                    .then(|| (c.status.clone(), c.reason.clone()))
            }),
        }
    }
}

/// IPs held by Services that may not share them: different or missing sharing keys, or a port
/// used twice. Returns (ip, the Services' names).
pub fn illegal_sharing(svcs: &[SvcView]) -> Vec<(IpAddr, Vec<String>)> {
    let mut by_ip: BTreeMap<IpAddr, Vec<&SvcView>> = BTreeMap::new();
    for s in svcs.iter().filter(|s| s.lb) {
        for ip in &s.ips {
            by_ip.entry(*ip).or_default().push(s);
        }
    }
    let mut bad = vec![];
    for (ip, holders) in by_ip {
        if holders.len() < 2 {
            continue;
        }
        let key = holders[0].sharing_key.as_ref();
        let same_key = key.is_some() && holders.iter().all(|h| h.sharing_key.as_ref() == key);
        let mut seen = BTreeSet::new();
        let disjoint = holders
            .iter()
            .flat_map(|h| h.ports.iter())
            .all(|p| seen.insert(p.clone()));
        if !(same_key && disjoint) {
            bad.push((ip, holders.iter().map(|h| h.name.clone()).collect()));
        }
    }
    bad
}

/// LoadBalancer Services' IPv4 VIPs, each with every Service that holds it (shared IPs have
/// several, each with its own lease).
fn vips_of(svcs: &[SvcView], keep: impl Fn(&SvcView) -> bool) -> BTreeMap<Ipv4Addr, Vec<&SvcView>> {
    let mut vips: BTreeMap<Ipv4Addr, Vec<&SvcView>> = BTreeMap::new();
    for s in svcs.iter().filter(|s| s.lb && keep(s)) {
        for ip in &s.ips {
            if let IpAddr::V4(v4) = ip {
                vips.entry(*v4).or_default().push(s);
            }
        }
    }
    vips
}

/// Whether `ip` lies in the inclusive range 10.77.0.lo–hi.
fn in_range(ip: &IpAddr, (lo, hi): (u8, u8)) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[..3] == [10, 77, 0] && (lo..=hi).contains(&o[3])
        }
        IpAddr::V6(_) => false,
    }
}

/// Tracks how long each keyed anomaly has lasted; reports those past their grace once.
#[derive(Default)]
struct Persistence {
    since: HashMap<String, Instant>,
    reported: BTreeSet<String>,
}

impl Persistence {
    /// `present` are the anomalies seen now; returns the ones that have lasted past `grace`.
    fn update(&mut self, present: BTreeSet<String>, now: Instant, grace: Duration) -> Vec<String> {
        self.since.retain(|k, _| present.contains(k));
        let mut out = vec![];
        for k in present {
            let t = *self.since.entry(k.clone()).or_insert(now);
            if now.duration_since(t) > grace && self.reported.insert(k.clone()) {
                out.push(format!("{k} (for {:?})", now.duration_since(t)));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// A serve process we can signal and restart; its output goes to a file (never a pipe that
/// could fill).
struct Proc {
    id: ProcId,
    cmd: Vec<String>,
    ns: String,
    log: PathBuf,
    child: Option<Child>,
    stopped: bool,
    started_at: Instant,
    /// RSS (KiB), fds and threads of the current incarnation: (seconds since its start, …).
    samples: Vec<(f64, u64, usize, usize)>,
    incarnations: u32,
}

impl Proc {
    fn start(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open serve log");
        let args: Vec<&str> = self.cmd.iter().map(String::as_str).collect();
        let child = lbctl::netns::Lan::command_in(&self.ns, LBCTL, &args)
            .env("LBCTL_LOG", "lbctl=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("serve starts");
        self.child = Some(child);
        self.stopped = false;
        self.started_at = Instant::now();
        self.samples.clear();
        self.incarnations += 1;
    }

    /// `ip netns exec` execs the program, so the child's pid is serve's.
    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: signalling our own child, which we have not reaped yet.
            unsafe { libc::kill(pid, sig) };
        }
    }

    fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stopped = false;
    }

    /// Running and not stopped (and not exited on its own).
    fn alive(&mut self) -> bool {
        !self.stopped
            && self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn sample(&mut self) {
        let Some(pid) = self.pid() else { return };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let count = |d: &str| {
            std::fs::read_dir(format!("/proc/{pid}/{d}"))
                .map(|r| r.count())
                .unwrap_or(0)
        };
        if rss > 0 {
            self.samples.push((
                self.started_at.elapsed().as_secs_f64(),
                rss,
                count("fd"),
                count("task"),
            ));
        }
    }
}

struct World {
    lab: Lab,
    /// Where each serve's debug socket is (`<name>.sock`).
    sock_dir: PathBuf,
    client: kube::Client,
    procs: BTreeMap<ProcId, Proc>,
    bridge_ns: String,
    node_macs: [String; 3],
    carrier: [bool; 3],
    isolated: bool,
    log: Vec<String>,
    counts: BTreeMap<&'static str, u64>,
    failed_ops: u64,
}

fn pool_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cilium.io",
        "v2",
        "CiliumLoadBalancerIPPool",
    ))
}

fn policy_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cilium.io",
        "v2alpha1",
        "CiliumL2AnnouncementPolicy",
    ))
}

fn service_json(
    name: &str,
    port: i32,
    sharing_key: Option<&str>,
    churn_pool: bool,
    requested: Option<&str>,
) -> Value {
    let mut ann = serde_json::Map::new();
    if let Some(k) = sharing_key {
        ann.insert("lbipam.cilium.io/sharing-key".into(), json!(k));
    }
    if let Some(ip) = requested {
        ann.insert("lbipam.cilium.io/ips".into(), json!(ip));
    }
    let pool = if churn_pool { "churn" } else { "stable" };
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": {"pool": pool}, "annotations": ann},
        "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]}
    })
}

fn pool_json(name: &str, (lo, hi): (u8, u8)) -> Value {
    json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": name},
        "spec": {
            "blocks": [{"start": format!("10.77.0.{lo}"), "stop": format!("10.77.0.{hi}")}],
            "serviceSelector": {"matchLabels": {"pool": name}}
        }
    })
}

fn scenario_yaml() -> String {
    let mut y = String::from(
        "apiVersion: lab.lbctl.io/v1\nkind: Include\nmetadata: {name: cilium-crds}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: soak}\n---\n\
         apiVersion: cilium.io/v2alpha1\nkind: CiliumL2AnnouncementPolicy\nmetadata: {name: soak}\n\
         spec: {loadBalancerIPs: true, interfaces: ['^eth0$']}\n",
    );
    for (i, n) in NODES.iter().enumerate() {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}, labels: {{kubernetes.io/hostname: {n}}}}}\n\
             status: {{addresses: [{{type: InternalIP, address: 10.77.0.{}}}], conditions: [{{type: Ready, status: 'True'}}]}}\n",
            i + 3
        ));
    }
    y.push_str(&format!(
        "---\napiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {{name: stable}}\n\
         spec: {{blocks: [{{start: 10.77.0.{}, stop: 10.77.0.{}}}], serviceSelector: {{matchLabels: {{pool: stable}}}}}}\n",
        STABLE.0, STABLE.1
    ));
    for i in 0..STABLE_SERVICES {
        // Two of them share one IP (same key, different ports).
        let ann = if i < 2 {
            "annotations: {lbipam.cilium.io/sharing-key: shared}, "
        } else {
            ""
        };
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: stable-{i}, namespace: soak, {ann}labels: {{pool: stable}}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: {}, protocol: TCP}}]}}\n",
            80 + i
        ));
    }
    y
}

impl World {
    fn count(&mut self, k: &'static str) {
        *self.counts.entry(k).or_default() += 1;
    }

    fn set_carrier(&mut self, node: usize, on: bool) {
        // Host i of the LAN has bridge port p<i>; nodes come after api and client.
        let port = format!("p{}", node + 2);
        let state = if on { "up" } else { "down" };
        let ok = Command::new("ip")
            .args(["-n", &self.bridge_ns, "link", "set", &port, state])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip link set {port} {state}");
        self.carrier[node] = on;
    }

    /// Ports p1 (the client) and p2–p4 (the nodes) isolated from each other; p0 (the API) not.
    fn isolate(&mut self, on: bool) {
        let state = if on { "on" } else { "off" };
        for port in ["p1", "p2", "p3", "p4"] {
            let ok = Command::new("bridge")
                .args(["-n", &self.bridge_ns, "link", "set", "dev", port])
                .args(["isolated", state])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "bridge link set dev {port} isolated {state}");
        }
        self.isolated = on;
    }

    async fn apply(&mut self, action: &Action) {
        self.count(action.kind());
        let svcs: Api<Service> = Api::namespaced(self.client.clone(), NS);
        let pools: Api<DynamicObject> = Api::all_with(self.client.clone(), &pool_resource());
        let policies: Api<DynamicObject> = Api::all_with(self.client.clone(), &policy_resource());
        let merge = |v: Value| Patch::Merge(v);
        let pp = PatchParams::default();
        let res: Result<(), kube::Error> = match action {
            Action::Kill(p) => {
                if let Some(p) = self.procs.get(p) {
                    p.signal(libc::SIGKILL);
                }
                Ok(())
            }
            Action::Term(p) => {
                if let Some(p) = self.procs.get(p) {
                    p.signal(libc::SIGTERM);
                }
                Ok(())
            }
            Action::Stop(p) => {
                if let Some(p) = self.procs.get_mut(p) {
                    p.signal(libc::SIGSTOP);
                    p.stopped = true;
                }
                Ok(())
            }
            Action::Cont(p) => {
                if let Some(p) = self.procs.get_mut(p) {
                    p.signal(libc::SIGCONT);
                    p.stopped = false;
                }
                Ok(())
            }
            Action::Restart(p) => {
                if let Some(p) = self.procs.get_mut(p) {
                    p.reap();
                    p.start();
                }
                Ok(())
            }
            Action::CutWatches => {
                self.lab.cut_watches();
                Ok(())
            }
            Action::ExpireVersions => {
                self.lab.expire_resource_versions();
                Ok(())
            }
            Action::Inject {
                path,
                status,
                delay_ms,
                count,
            } => {
                self.lab.inject(Fault {
                    method: None,
                    path_contains: (*path).to_string(),
                    status: *status,
                    delay: delay_ms.map(Duration::from_millis),
                    count: *count,
                });
                Ok(())
            }
            Action::CarrierDown(n) => {
                self.set_carrier(*n, false);
                Ok(())
            }
            Action::CarrierUp(n) => {
                self.set_carrier(*n, true);
                Ok(())
            }
            Action::Isolate(on) => {
                self.isolate(*on);
                Ok(())
            }
            Action::CreateService {
                name,
                port,
                sharing_key,
                churn_pool,
                requested,
            } => {
                let svc: Service = serde_json::from_value(service_json(
                    name,
                    *port,
                    *sharing_key,
                    *churn_pool,
                    requested.as_deref(),
                ))
                .expect("service json");
                svcs.create(&PostParams::default(), &svc).await.map(drop)
            }
            Action::DeleteService(n) => svcs
                .delete(&churn_name(*n), &DeleteParams::default())
                .await
                .map(drop),
            Action::FlipType(n) => match svcs.get(&churn_name(*n)).await {
                Ok(s) => {
                    let lb = s.spec.and_then(|s| s.type_).as_deref() == Some("LoadBalancer");
                    let to = if lb { "ClusterIP" } else { "LoadBalancer" };
                    svcs.patch(&churn_name(*n), &pp, &merge(json!({"spec": {"type": to}})))
                        .await
                        .map(drop)
                }
                Err(e) => Err(e),
            },
            Action::RequestIp(n, ip) => svcs
                .patch(
                    &churn_name(*n),
                    &pp,
                    &merge(json!({"metadata": {"annotations": {"lbipam.cilium.io/ips": ip}}})),
                )
                .await
                .map(drop),
            Action::SharingKey(n, key) => svcs
                .patch(
                    &churn_name(*n),
                    &pp,
                    &merge(
                        json!({"metadata": {"annotations": {"lbipam.cilium.io/sharing-key": key}}}),
                    ),
                )
                .await
                .map(drop),
            Action::CreateChurnPool => {
                let obj: DynamicObject =
                    serde_json::from_value(pool_json("churn", CHURN)).expect("pool json");
                pools.create(&PostParams::default(), &obj).await.map(drop)
            }
            Action::DeleteChurnPool => pools
                .delete("churn", &DeleteParams::default())
                .await
                .map(drop),
            Action::PolicyExclude(node) => {
                let sel = match node {
                    None => Value::Null,
                    Some(n) => json!({"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": [NODES[*n]]}
                    ]}),
                };
                policies
                    .patch("soak", &pp, &merge(json!({"spec": {"nodeSelector": sel}})))
                    .await
                    .map(drop)
            }
        };
        if let Err(e) = res {
            // Churn may meet an injected fault or a churned-away object: that is the point.
            self.failed_ops += 1;
            self.log.push(format!("{}: {e}", action.kind()));
        }
    }

    fn sample(&mut self) {
        for p in self.procs.values_mut() {
            p.sample();
        }
    }
}

/// The lab's view at one moment.
struct Observed {
    svcs: Vec<SvcView>,
    churn_pool: bool,
    /// VIP → (holder, fresh).
    leases: HashMap<String, (String, bool)>,
}

async fn observe(client: &kube::Client) -> Result<Observed, kube::Error> {
    let svcs: Api<Service> = Api::namespaced(client.clone(), NS);
    let svcs: Vec<SvcView> = svcs
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(SvcView::from)
        .collect();
    let pools: Api<DynamicObject> = Api::all_with(client.clone(), &pool_resource());
    let churn_pool = pools
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("churn"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NS);
    let now = jiff::Timestamp::now();
    let mut by_svc = HashMap::new();
    for l in leases.list(&ListParams::default()).await?.items {
        let name = l.metadata.name.unwrap_or_default();
        let Some(svc) = name.strip_prefix(&format!("cilium-l2announce-{NS}-")) else {
            continue;
        };
        let spec = l.spec.unwrap_or_default();
        let holder = spec.holder_identity.unwrap_or_default();
        let fresh = match (spec.renew_time, spec.lease_duration_seconds) {
            (Some(t), Some(d)) => {
                let renewed = t.0.as_second();
                now.as_second() < renewed + i64::from(d)
            }
            _ => false,
        };
        by_svc.insert(svc.to_string(), (holder, fresh));
    }
    Ok(Observed {
        svcs,
        churn_pool,
        leases: by_svc,
    })
}

/// Who answers ARP for each VIP, seen from the client.
/// Asks who answers each VIP the way a client's kernel does before it gives up on a request:
/// Linux waits `retrans_time_ms` (1 s) for an answer and tries `mcast_solicit` (3) times. A
/// stricter probe (350 ms, as this once was) counted answers that an overloaded node sent
/// after 0.4-1 s as silence, although every client got them.
async fn probe_all(vips: &[Ipv4Addr]) -> HashMap<Ipv4Addr, Vec<String>> {
    let opts = lbctl::net::probe::ProbeOptions {
        count: 3,
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(1),
        dup_window: Duration::from_millis(200),
    };
    let futs = vips.iter().map(|ip| {
        let opts = opts.clone();
        async move {
            let r = lbctl::net::probe::probe(IpAddr::V4(*ip), Some("eth0"), opts).await;
            let macs = r
                .map(|r| {
                    r.responders
                        .iter()
                        .map(|x| x.mac.to_string().to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            (*ip, macs)
        }
    });
    futures::future::join_all(futs).await.into_iter().collect()
}

#[derive(Default)]
struct Checker {
    sharing: Persistence,
    uncovered: Persistence,
    duplicates: Persistence,
    silent: Persistence,
    /// VIP × seconds unanswered under a fresh lease whose holder does not (validly) lead the
    /// VIP: fencing. Each round counts the time since the previous one.
    fenced_vip_seconds: f64,
    /// Same, but the holder's debug socket did not answer in time (a stopped or starved node).
    unknown_vip_seconds: f64,
    last_round: Option<Instant>,
    /// Stable Services' first IP.
    stable_ips: HashMap<String, Vec<IpAddr>>,
    rounds: u64,
    probes: u64,
    violations: Vec<String>,
}

impl Checker {
    async fn round(&mut self, w: &mut World) {
        let Ok(obs) = observe(&w.client).await else {
            // An injected fault hit the checker's own LIST: try again next round.
            return;
        };
        self.rounds += 1;
        let now = Instant::now();
        let since_last = self
            .last_round
            .replace(now)
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        // IPAM: no illegal sharing, no IP outside every pool, stable IPs never move.
        let sharing = illegal_sharing(&obs.svcs)
            .into_iter()
            .map(|(ip, names)| format!("{ip} held by {names:?}, which may not share it"))
            .collect();
        let mut found = self.sharing.update(sharing, now, IPAM_GRACE);
        let uncovered = obs
            .svcs
            .iter()
            .filter(|s| s.lb)
            .flat_map(|s| s.ips.iter().map(move |ip| (s, ip)))
            .filter(|(_, ip)| !(in_range(ip, STABLE) || obs.churn_pool && in_range(ip, CHURN)))
            .map(|(s, ip)| format!("{} holds {ip}, which no pool covers", s.name))
            .collect();
        found.extend(self.uncovered.update(uncovered, now, IPAM_GRACE));
        for s in obs.svcs.iter().filter(|s| s.name.starts_with("stable-")) {
            if s.ips.is_empty() {
                continue;
            }
            let first = self
                .stable_ips
                .entry(s.name.clone())
                .or_insert(s.ips.clone());
            if *first != s.ips {
                found.push(format!(
                    "{} moved from {first:?} to {:?} with no reason to",
                    s.name, s.ips
                ));
                *first = s.ips.clone();
            }
        }
        // L2: at most one MAC per VIP, a node's; a fresh lease's running holder answers.
        let vips = vips_of(&obs.svcs, |_| true);
        let list: Vec<Ipv4Addr> = vips.keys().copied().collect();
        let answers = probe_all(&list).await;
        self.probes += list.len() as u64;
        let mut dup = BTreeSet::new();
        let mut silent = BTreeSet::new();
        for (ip, sharers) in &vips {
            let mut macs = answers.get(ip).cloned().unwrap_or_default();
            // One key per set of MACs, whatever order they answered in.
            macs.sort();
            for m in &macs {
                if !w.node_macs.contains(m) {
                    found.push(format!("{ip} answered by {m}, which is no node's"));
                }
            }
            if macs.len() > 1 {
                dup.insert(format!("{ip} answered by {macs:?}"));
            }
            // Each Service sharing the IP has its own lease.
            for svc in sharers {
                let Some((holder, fresh)) = obs.leases.get(&svc.name) else {
                    continue;
                };
                let Some(n) = NODES.iter().position(|n| n == holder) else {
                    continue;
                };
                let healthy = *fresh
                    && w.carrier[n]
                    && w.procs.get_mut(&ProcId::Node(n)).is_some_and(|p| {
                        p.alive() && p.started_at.elapsed() > Duration::from_secs(1)
                    });
                if healthy && macs.is_empty() {
                    match leads_validly(&w.sock_dir, holder, *ip).await {
                        Some(true) => {
                            silent.insert(format!(
                                "{ip} ({}) unanswered while {holder} holds a fresh lease and says it leads",
                                svc.name
                            ));
                        }
                        Some(false) => self.fenced_vip_seconds += since_last,
                        None => self.unknown_vip_seconds += since_last,
                    }
                }
            }
        }
        found.extend(self.duplicates.update(dup, now, DUPLICATE_GRACE));
        found.extend(self.silent.update(silent, now, SILENT_GRACE));
        // Said at once, so a long run shows its findings while it runs.
        for v in &found {
            say(&format!("soak violation: {v}"));
        }
        self.violations.extend(found);
    }

    /// After the faults: every LoadBalancer Service settled (satisfied, or refused with a
    /// reason), every satisfied VIP answered by exactly the lease holder's MAC.
    async fn converged(&mut self, w: &World) -> Result<(), String> {
        let obs = observe(&w.client).await.map_err(|e| e.to_string())?;
        for s in obs.svcs.iter().filter(|s| s.lb) {
            match &s.condition {
                Some((st, _)) if st == "True" && !s.ips.is_empty() => {}
                Some((st, reason)) if st == "False" && !reason.is_empty() => {}
                other => return Err(format!("{} not settled: {other:?} {:?}", s.name, s.ips)),
            }
        }
        let vips = vips_of(&obs.svcs, |s| {
            s.condition.as_ref().is_some_and(|(st, _)| st == "True")
        });
        if !illegal_sharing(&obs.svcs).is_empty() {
            return Err(format!("illegal sharing: {:?}", illegal_sharing(&obs.svcs)));
        }
        let list: Vec<Ipv4Addr> = vips.keys().copied().collect();
        let answers = probe_all(&list).await;
        for (ip, sharers) in &vips {
            let macs = answers.get(ip).cloned().unwrap_or_default();
            let holder_macs: BTreeSet<&String> = sharers
                .iter()
                .filter_map(|s| obs.leases.get(&s.name))
                .filter(|(_, fresh)| *fresh)
                .filter_map(|(h, _)| NODES.iter().position(|n| n == h))
                .map(|n| &w.node_macs[n])
                .collect();
            if macs.len() != 1 || !holder_macs.contains(&macs[0]) {
                let names: Vec<&str> = sharers.iter().map(|s| s.name.as_str()).collect();
                return Err(format!(
                    "{ip} ({names:?}) answered by {macs:?}, lease holder MACs {holder_macs:?}"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `node` says it leads `ip` with an unexpired lease right now (`debug l2-announce`,
/// any interface); `None` when its debug socket does not answer within a second.
async fn leads_validly(sock_dir: &Path, node: &str, ip: Ipv4Addr) -> Option<bool> {
    let sock = sock_dir.join(format!("announce-{node}.sock"));
    let rows = tokio::time::timeout(
        Duration::from_secs(1),
        lbctl::debug::query(&sock, "l2-announce"),
    )
    .await
    .ok()?
    .ok()?;
    let ip = ip.to_string();
    Some(rows.as_array().is_some_and(|rows| {
        rows.iter()
            .any(|r| r["ip"] == ip.as_str() && r["valid"] == true)
    }))
}

fn seed_from_env() -> u64 {
    std::env::var("LBCTL_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Straight to the stderr handle: libtest would swallow eprintln! of a passing test.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn serve_cmd(id: ProcId, kc: &Path, dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = vec!["--kubeconfig".into(), kc.display().to_string()];
    let sock = dir
        .join(format!("{}.sock", id.name()))
        .display()
        .to_string();
    let common = [
        "--lease-duration",
        TIMINGS[0],
        "--renew-deadline",
        TIMINGS[1],
        "--retry-period",
        TIMINGS[2],
        "--metrics-addr",
        "127.0.0.1:0",
        "--debug-socket",
        &sock,
    ];
    match id {
        ProcId::IpamA | ProcId::IpamB => {
            v.extend(["serve", "--ipam", "--no-announce", "--node-name"].map(String::from));
            v.push(id.name());
        }
        ProcId::Node(n) => {
            v.extend(
                ["serve", "--no-ipam", "--announce", "--node-name", NODES[n]].map(String::from),
            );
        }
    }
    v.extend(common.iter().map(|s| s.to_string()));
    v
}

#[derive(serde::Serialize)]
struct Report {
    seed: u64,
    seconds_under_faults: u64,
    steps: usize,
    faults_injected: u64,
    by_kind: BTreeMap<&'static str, u64>,
    churn_ops_failed: u64,
    invariant_rounds: u64,
    arp_probes: u64,
    /// VIP × seconds unanswered under a fresh lease whose holder could not prove it leads
    /// (its lease requests timing out): safe fencing, see `SILENT_GRACE`.
    fenced_vip_seconds: f64,
    /// VIP × seconds unanswered under a fresh lease whose holder's debug socket was silent.
    unknown_vip_seconds: f64,
    converged_after_s: Option<f64>,
    max_rss_kib: BTreeMap<String, u64>,
    max_fds: BTreeMap<String, usize>,
    max_threads: BTreeMap<String, usize>,
    incarnations: BTreeMap<String, u32>,
    violations: Vec<String>,
}

#[test]
fn schedule_replays_from_its_seed() {
    let a = schedule(42, Duration::from_secs(120));
    let b = schedule(42, Duration::from_secs(120));
    let c = schedule(43, Duration::from_secs(120));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Every fault is undone inside the run's tail, and the draw covers every kind of fault.
    let kinds: BTreeSet<&str> = a.iter().map(|s| s.action.kind()).collect();
    for k in [
        "sigkill",
        "sigterm",
        "sigstop",
        "cut_watches",
        "carrier_down",
        "svc_create",
        "policy_edit",
    ] {
        assert!(kinds.contains(k), "{k} never drawn in 120 s: {kinds:?}");
    }
    let stops = a
        .iter()
        .filter(|s| matches!(s.action, Action::Stop(_)))
        .count();
    let conts = a
        .iter()
        .filter(|s| matches!(s.action, Action::Cont(_)))
        .count();
    assert_eq!(stops, conts);
}

#[test]
fn illegal_sharing_needs_one_key_and_disjoint_ports() {
    let v = |name: &str, key: Option<&str>, port: i32| SvcView {
        name: name.into(),
        lb: true,
        ips: vec!["10.0.0.1".parse().unwrap()],
        sharing_key: key.map(String::from),
        ports: [(port, "TCP".to_string())].into(),
        condition: None,
    };
    assert!(illegal_sharing(&[v("a", Some("k"), 80), v("b", Some("k"), 81)]).is_empty());
    assert_eq!(
        illegal_sharing(&[v("a", Some("k"), 80), v("b", Some("k"), 80)]).len(),
        1
    );
    assert_eq!(
        illegal_sharing(&[v("a", Some("k"), 80), v("b", Some("j"), 81)]).len(),
        1
    );
    assert_eq!(
        illegal_sharing(&[v("a", None, 80), v("b", None, 81)]).len(),
        1
    );
}

#[test]
fn chaos_soak_keeps_its_invariants() {
    let secs: u64 = std::env::var("LBCTL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let seed = seed_from_env();
    let steps = schedule(seed, Duration::from_secs(secs));
    say(&format!(
        "chaos soak: seed {seed} ({} steps over {secs} s); replay with LBCTL_SOAK_SEED={seed}",
        steps.len()
    ));
    let Some((report, logs)) = run_soak("chaos_soak_keeps_its_invariants", seed, secs, steps)
    else {
        return;
    };
    let json = serde_json::to_string_pretty(&report).unwrap();
    say(&format!("chaos soak report:\n{json}"));
    if let Ok(path) = std::env::var("LBCTL_SOAK_REPORT") {
        std::fs::write(path, &json).unwrap();
    }
    if !report.violations.is_empty() {
        // Keep the logs for a post-mortem.
        let keep = std::env::temp_dir().join(format!("lbctl-soak-{seed}"));
        let _ = std::fs::create_dir_all(&keep);
        for e in std::fs::read_dir(logs.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "log") {
                let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
            }
        }
        say(&format!("serve logs kept in {}", keep.display()));
    }
    assert!(
        report.violations.is_empty(),
        "seed {seed}: {} violation(s): {:#?}",
        report.violations.len(),
        report.violations
    );
}

/// The checker's own test: holders that keep their leases and believe they lead while their
/// answers cannot reach the LAN must be reported as silent holders. Without this, a checker
/// that never finds anything would pass every soak.
#[test]
fn chaos_soak_catches_a_silent_holder() {
    let steps = vec![
        Step {
            at: Duration::from_secs(8),
            action: Action::Isolate(true),
        },
        Step {
            at: Duration::from_secs(8) + SILENT_GRACE + Duration::from_secs(6),
            action: Action::Isolate(false),
        },
    ];
    let secs = steps[1].at.as_secs() + 1;
    let Some((report, _logs)) = run_soak("chaos_soak_catches_a_silent_holder", 1, secs, steps)
    else {
        return;
    };
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.contains("unanswered while") && v.contains("says it leads")),
        "no silent holder reported while the nodes were cut off from the client: {:#?}",
        report.violations
    );
}

/// Runs the world under `steps` for `secs` and checks it; `None` when the LAN cannot be built
/// here (said visibly by `Lan::try_new`). The directory holds the serve logs.
fn run_soak(
    test: &str,
    seed: u64,
    secs: u64,
    steps: Vec<Step>,
) -> Option<(Report, tempfile::TempDir)> {
    let hosts = ["api", "client", "n1", "n2", "n3"];
    let lan = Lan::try_new(test, &hosts)?;
    for n in NODES {
        lan.ip(n, &["route", "add", "default", "dev", "eth0"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let api_ip = lan.host("api").ipv4;
    let scenario = Scenario::parse("soak", &scenario_yaml()).expect("soak scenario parses");
    let lab = lan.in_netns("api", move || {
        Lab::start(format!("{api_ip}:0").parse().unwrap(), &[scenario]).expect("lab starts")
    });
    let kc = dir.path().join("kubeconfig");
    lab.write_kubeconfig(&kc).unwrap();
    let node_macs = NODES.map(|n| lan.host(n).mac.to_lowercase());
    let procs: BTreeMap<ProcId, Proc> = ProcId::ALL
        .iter()
        .map(|id| {
            (
                *id,
                Proc {
                    id: *id,
                    cmd: serve_cmd(*id, &kc, dir.path()),
                    ns: lan.host(id.host()).ns.clone(),
                    log: dir.path().join(format!("{}.log", id.name())),
                    child: None,
                    stopped: false,
                    started_at: Instant::now(),
                    samples: vec![],
                    incarnations: 0,
                },
            )
        })
        .collect();
    let bridge_ns = lan.bridge_ns().to_string();
    let sock_dir = dir.path().to_path_buf();
    let report = lan.in_netns("client", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = lab.client().expect("client");
            let mut w = World {
                lab,
                sock_dir,
                client,
                procs,
                bridge_ns,
                node_macs,
                carrier: [true; 3],
                isolated: false,
                log: vec![],
                counts: BTreeMap::new(),
                failed_ops: 0,
            };
            for p in w.procs.values_mut() {
                p.start();
            }
            let mut checker = Checker::default();
            let start = Instant::now();
            let mut next_check = start + Duration::from_secs(3);
            let mut i = 0;
            while i < steps.len() {
                while i < steps.len() && start + steps[i].at <= Instant::now() {
                    let a = steps[i].action.clone();
                    w.apply(&a).await;
                    i += 1;
                }
                if Instant::now() >= next_check {
                    checker.round(&mut w).await;
                    w.sample();
                    next_check = Instant::now() + Duration::from_millis(700);
                }
                let next_step = steps.get(i).map(|s| start + s.at).unwrap_or(next_check);
                tokio::time::sleep_until(next_step.min(next_check).into()).await;
            }
            // The faults stop: everything back up, then convergence within a bound.
            if w.isolated {
                w.isolate(false);
            }
            for n in 0..3 {
                if !w.carrier[n] {
                    w.set_carrier(n, true);
                }
            }
            for p in w.procs.values_mut() {
                if p.stopped {
                    p.signal(libc::SIGCONT);
                    p.stopped = false;
                }
                if !p.alive() {
                    p.reap();
                    p.start();
                }
            }
            let quiet = Instant::now();
            let mut converged_after = None;
            let mut last_err = String::new();
            while quiet.elapsed() < CONVERGE_WITHIN {
                checker.round(&mut w).await;
                w.sample();
                match checker.converged(&w).await {
                    Ok(()) => {
                        converged_after = Some(quiet.elapsed().as_secs_f64());
                        break;
                    }
                    Err(e) => last_err = e,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if converged_after.is_none() {
                checker.violations.push(format!(
                    "not converged {CONVERGE_WITHIN:?} after the faults stopped: {last_err}"
                ));
            }
            // Resources: within one incarnation, nothing grows without bound.
            let mut report = Report {
                seed,
                seconds_under_faults: secs,
                steps: steps.len(),
                faults_injected: steps.iter().filter(|s| s.action.is_fault()).count() as u64,
                by_kind: w.counts.clone(),
                churn_ops_failed: w.failed_ops,
                invariant_rounds: checker.rounds,
                arp_probes: checker.probes,
                fenced_vip_seconds: checker.fenced_vip_seconds,
                unknown_vip_seconds: checker.unknown_vip_seconds,
                converged_after_s: converged_after,
                max_rss_kib: BTreeMap::new(),
                max_fds: BTreeMap::new(),
                max_threads: BTreeMap::new(),
                incarnations: BTreeMap::new(),
                violations: vec![],
            };
            for p in w.procs.values_mut() {
                let name = p.id.name();
                report.incarnations.insert(name.clone(), p.incarnations);
                if let Some(m) = p.samples.iter().map(|s| s.1).max() {
                    report.max_rss_kib.insert(name.clone(), m);
                }
                if let Some(m) = p.samples.iter().map(|s| s.2).max() {
                    report.max_fds.insert(name.clone(), m);
                }
                if let Some(m) = p.samples.iter().map(|s| s.3).max() {
                    report.max_threads.insert(name.clone(), m);
                }
                // Compare the end of the current incarnation with its state after warm-up.
                let warm: Vec<_> = p.samples.iter().filter(|s| s.0 >= 5.0).collect();
                if let (Some(first), Some(last)) = (warm.first(), warm.last()) {
                    if last.0 - first.0 >= 20.0 {
                        if last.1 > first.1 * 2 + 32 * 1024 {
                            checker.violations.push(format!(
                                "{name}: RSS grew {} → {} KiB in one incarnation",
                                first.1, last.1
                            ));
                        }
                        if last.2 > first.2 + 64 {
                            checker
                                .violations
                                .push(format!("{name}: fds grew {} → {}", first.2, last.2));
                        }
                    }
                }
                p.signal(libc::SIGTERM);
            }
            for p in w.procs.values_mut() {
                if let Some(c) = p.child.as_mut() {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                p.reap();
            }
            // No panic in any serve's log, ever.
            for p in w.procs.values() {
                let text = std::fs::read_to_string(&p.log).unwrap_or_default();
                if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
                    checker.violations.push(format!("{}: {line}", p.id.name()));
                }
            }
            report.violations = checker.violations;
            report
        })
    });
    Some((report, dir))
}

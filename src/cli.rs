//! Command-line surface (docs/architecture.md, "Where each command starts"). These definitions also generate `completions/` and `man/`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::{ColorChoice, OutputFormat};

#[derive(Parser, Debug)]
#[command(
    name = "lbctl",
    version,
    about = "Troubleshoot and serve Kubernetes LoadBalancer VIPs on bare metal",
    long_about = "lbctl finds out why a type: LoadBalancer Service is stuck at <pending> or why its VIP does not \
answer on the LAN, following Cilium's LB IPAM and L2 announcement semantics, and carries an embedded \
Kubernetes API server (the lab) to try it all without a cluster.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl-style flags accepted by every command.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Give up on an API request after this long without progress (connect, send, or wait for
    /// the answer), exiting 3; 0 waits forever. serve retries instead of exiting.
    #[arg(long, global = true, default_value = "30s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub request_timeout: std::time::Duration,
    /// Namespace to look in (default: the context's namespace, else "default"); for `serve`,
    /// the namespace of its leases (default kube-system).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Look in every namespace.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// When to colour output (NO_COLOR is honoured in auto mode).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ask the LAN who owns an IP (ARP for IPv4, NDP for IPv6) and report every responder.
    ArpProbe(ArpProbeArgs),
    /// Walk the troubleshooting ladder for a LoadBalancer Service (or every one with --all).
    Doctor(DoctorArgs),
    /// List CiliumLoadBalancerIPPools: blocks, usage, conflicts, validation errors, Services drawing from each.
    Pools(ListArgs),
    /// List CiliumL2AnnouncementPolicies: selectors, interfaces, IP kinds, bad-* conditions, matches.
    Policies(ListArgs),
    /// List L2 announcement leases: Service, holder, renew age, expiry, holder node readiness.
    Leases(ListArgs),
    /// The embedded lab: an in-memory Kubernetes API server preloaded with a scenario.
    Lab(LabArgs),
    /// Ask a running `lbctl serve` on this host what it does (over its local socket).
    Debug(DebugArgs),
    /// Print the Cilium-compatible CRDs (pools, L2 policies, CiliumNodes) lbctl serves, as YAML:
    /// `lbctl crds | kubectl apply -f -` on a cluster without Cilium.
    Crds,
    /// Run the engine on a node: LB IPAM (leader-elected) and/or the L2 announcer.
    Serve(ServeArgs),
    /// Print a shell completion script; it completes Services, namespaces and contexts from the
    /// cluster by calling lbctl back (lbctl must be on PATH): `source <(lbctl completions bash)`.
    Completions {
        /// The shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (one per subcommand) into a directory.
    Man {
        /// Output directory.
        #[arg(long, default_value = "man", value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct DebugArgs {
    #[command(subcommand)]
    pub topic: DebugTopic,
    /// The socket of the running serve, as given to its --debug-socket (default: the path
    /// serve uses by default).
    #[arg(
        long = "debug-socket",
        alias = "socket",
        global = true,
        value_name = "PATH"
    )]
    pub socket: Option<PathBuf>,
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum DebugTopic {
    /// VIPs this node answers for: IP, interface, Service, since, requests seen and answered.
    L2Announce,
    /// Network devices: name, index, MAC, whether selected for announcing and why not.
    Devices,
    /// The IPAM engine in this process: leadership, pools and their counts.
    Ipam,
}

impl DebugTopic {
    pub fn name(self) -> &'static str {
        match self {
            DebugTopic::L2Announce => "l2-announce",
            DebugTopic::Devices => "devices",
            DebugTopic::Ipam => "ipam",
        }
    }
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Serve the lab API server until Ctrl-C / SIGTERM.
    Up(LabUpArgs),
    /// List the embedded scenarios.
    Scenarios,
    /// Tell the article's story on an in-process lab: a <pending> Service, doctor, the fixes.
    Demo(LabDemoArgs),
}

#[derive(Args, Debug)]
pub struct LabDemoArgs {
    /// Do not wait for Enter between steps (the default when stdin is not a terminal).
    #[arg(long)]
    pub unattended: bool,
    /// Do not build the namespace LAN even as root (the ARP steps are then skipped).
    #[arg(long)]
    pub no_lan: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The Service: svc/NAME, service/NAME, NAME or NS/NAME.
    #[arg(
        value_name = "SERVICE",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub service: Option<String>,
    /// Every LoadBalancer Service (of the namespace, or of the cluster with -A), one row each.
    #[arg(long)]
    pub all: bool,
    /// Namespace of the Cilium agent (cilium-config and the L2 leases).
    #[arg(long, default_value = "kube-system", value_name = "NS")]
    pub cilium_namespace: String,
    /// Do not probe the VIP with ARP/NDP (rung 4 is then skipped); doctor otherwise probes
    /// when this host shares the VIP's L2 segment.
    #[arg(long)]
    pub no_probe: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this object (for leases: svc/NAME or NS/NAME of the Service).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Namespace of the Cilium agent (cilium-config and the L2 leases).
    #[arg(long, default_value = "kube-system", value_name = "NS")]
    pub cilium_namespace: String,
}

#[derive(Args, Debug)]
pub struct LabUpArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Scenario to preload: an embedded name (see `lbctl lab scenarios`) or a YAML file. Repeatable.
    #[arg(long = "scenario", value_name = "NAME|FILE")]
    pub scenarios: Vec<String>,
    /// Where to write the kubeconfig (default: a file in the temp directory named after the port).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Append every request the lab serves to FILE, one JSON object per line (method, path,
    /// query, status, user agent): to see exactly what a client does.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
    /// Fail requests on purpose: METHOD:PATH-SUBSTRING:STATUS[:COUNT] (METHOD may be `*`;
    /// COUNT defaults to 1), e.g. `PATCH:/status:409:2`. Repeatable.
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    pub faults: Vec<FaultSpec>,
    /// Run no engine: by default LB IPAM (`lbctl serve --ipam`) runs in the lab's process, so
    /// Services get their IPs once a pool exists.
    #[arg(long)]
    pub no_engine: bool,
}

/// Who answers ARP (IPv4) or NDP (IPv6) for an address on this LAN.
///
/// Exit status: 0 exactly one owner, 1 no answer or several owners, 2 usage,
/// 3 permission or interface problem.
#[derive(clap::Args, Debug, Clone)]
pub struct ArpProbeArgs {
    /// The IPv4 or IPv6 address to probe (an IPv4-mapped `::ffff:a.b.c.d` is probed as the
    /// IPv4 address it is, over ARP).
    #[arg(value_name = "IP", value_parser = parse_ip)]
    pub ip: IpAddr,
    /// Interface to probe on [default: the one the kernel routes IP through].
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// Most requests to send.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Gap between requests, at least 10ms [default: 100ms, or 1s with --watch].
    #[arg(long, value_name = "D", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Give up when nobody answered within this time (more than 0).
    #[arg(long, value_name = "D", value_parser = parse_timeout, default_value = "1s")]
    pub timeout: Duration,
    /// After the first answer, keep listening this long for a second owner.
    #[arg(long = "dup-window", value_name = "D", value_parser = crate::duration::parse,
          default_value = "300ms")]
    pub dup_window: Duration,
    /// Keep probing and listening for gratuitous ARP / unsolicited NA; print every
    /// change of owner with a timestamp.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop after this long [default: until interrupted].
    #[arg(long, value_name = "D", value_parser = crate::duration::parse, requires = "watch")]
    pub duration: Option<Duration>,
}

/// The smallest `--interval`: 100 requests a second is already a lot for a LAN probe; less
/// than that floods the segment (0 sent ~110,000 requests a second).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = crate::duration::parse(s).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL {
        return Err(format!(
            "{s:?} is below the minimum interval of {}ms (it would flood the LAN)",
            MIN_INTERVAL.as_millis()
        ));
    }
    Ok(d)
}

pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!(
            "{s:?}: a zero timeout would send nothing and wait for nothing; give a positive time"
        ));
    }
    Ok(d)
}

/// An address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address: no host answers
/// NDP for it, the owner answers ARP.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// `lbctl serve`. The global `-n/--namespace` is the namespace of the IPAM lease here
/// (default kube-system, where Cilium keeps its leases).
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Run LB IPAM: allocate Service IPs from CiliumLoadBalancerIPPools (default on).
    #[arg(long, overrides_with = "no_ipam")]
    pub ipam: bool,
    /// Do not run LB IPAM.
    #[arg(long, overrides_with = "ipam")]
    pub no_ipam: bool,
    /// Run the L2 announcer: contend for each selected Service's lease and answer ARP/NDP for
    /// its VIPs while leader (needs CAP_NET_RAW; default off, the DaemonSet turns it on).
    #[arg(long, overrides_with = "no_announce")]
    pub announce: bool,
    /// Do not run the L2 announcer (the default).
    #[arg(long, overrides_with = "announce")]
    pub no_announce: bool,
    /// Name prefix of the per-Service announcement leases (Cilium's, so a mixed or migrating
    /// cluster never announces a VIP twice).
    #[arg(long, default_value = crate::model::names::L2_LEASE_PREFIX, value_name = "PREFIX")]
    pub l2_lease_prefix: String,
    /// Unix socket for `lbctl debug` (default: /run/lbctl/debug.sock as root).
    #[arg(long, value_name = "PATH")]
    pub debug_socket: Option<std::path::PathBuf>,
    /// This node's name: the lease holder identity (default: $NODE_NAME, then the hostname).
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// How long a non-leader waits after the last renew before taking the IPAM lease.
    #[arg(long, default_value = "15s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub lease_duration: std::time::Duration,
    /// How long the leader may fail to renew before it stops writing and answering.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub renew_deadline: std::time::Duration,
    /// Interval between lease attempts.
    #[arg(long, default_value = "2s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub retry_period: std::time::Duration,
    /// Where to serve /metrics, /healthz and /readyz (port 0 picks a free port). The address
    /// may be bracketed whatever its family (`[$(POD_IP)]:9963` in a manifest); bind the pod's
    /// own IP, not 0.0.0.0, on a host-network pod.
    #[arg(long, default_value = "127.0.0.1:9963", value_parser = parse_listen, value_name = "ADDR:PORT")]
    pub metrics_addr: SocketAddr,
    /// Field manager of the status patches (use cilium-operator-lb-ipam to pose as Cilium).
    #[arg(long, default_value = "lbctl", value_name = "NAME")]
    pub field_manager: String,
    /// At most this many API requests in flight at once, per engine (a thousand lease renewals
    /// queue instead of opening a thousand connections; kube's client speaks HTTP/1.1).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub max_requests_in_flight: u16,
    /// Hand out IPv6 addresses to Services that ask for no family (Cilium's enable-ipv6).
    #[arg(long)]
    pub enable_ipv6: bool,
    /// Who serves Services without loadBalancerClass: lbipam (us) or none.
    #[arg(long, default_value = "lbipam", value_parser = ["lbipam", "none"], value_name = "MODE")]
    pub default_lb_service_ipam: String,
    /// loadBalancerClass values served besides none (repeatable).
    #[arg(
        long = "lb-class",
        default_value = "io.cilium/l2-announcer",
        value_name = "CLASS"
    )]
    pub lb_classes: Vec<String>,
}

impl ServeArgs {
    pub fn ipam_enabled(&self) -> bool {
        !self.no_ipam
    }
    pub fn announce_enabled(&self) -> bool {
        self.announce && !self.no_announce
    }
}

/// `IP:PORT`, `[IPv6]:PORT`, or `[IPv4]:PORT`: a manifest can then write `[$(POD_IP)]:PORT`
/// for a pod IP of either family.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let bad = || format!("{text:?} is not ADDR:PORT (e.g. 127.0.0.1:9963, [::1]:9963)");
    if let Ok(a) = text.parse() {
        return Ok(a);
    }
    let (host, port) = text
        .strip_prefix('[')
        .and_then(|t| t.split_once("]:"))
        .ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = host.parse().map_err(|_| bad())?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok(SocketAddr::from((ip, port)))
}

/// The clap command tree, for completions and man pages.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The name kubectl runs its plugin `kubectl lb` by (a symlink to lbctl on PATH).
pub const KUBECTL_PLUGIN: &str = "kubectl-lb";

/// Parses the command line; when run as [`KUBECTL_PLUGIN`], help and usage say `kubectl lb`,
/// which is what the user typed.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let plugin = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == KUBECTL_PLUGIN);
    let mut cmd = command();
    if plugin {
        cmd = cmd
            .name(KUBECTL_PLUGIN)
            .bin_name("kubectl lb")
            .display_name("kubectl lb");
    }
    Cli::from_arg_matches(&cmd.try_get_matches_from(args)?)
}

/// File name under `completions/` for each shell.
pub fn completion_file_name(shell: clap_complete::Shell) -> &'static str {
    use clap_complete::Shell;
    match shell {
        Shell::Bash => "lbctl.bash",
        Shell::Zsh => "_lbctl",
        Shell::Fish => "lbctl.fish",
        Shell::Elvish => "lbctl.elv",
        Shell::PowerShell => "_lbctl.ps1",
        _ => "lbctl.unknown",
    }
}

/// Writes one man page per command and subcommand into `dir`.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(command(), dir)
}

/// The CRDs as one multi-document YAML stream (what `deploy/crds.yaml` holds).
pub fn crds_yaml() -> anyhow::Result<String> {
    let mut out =
        String::from("# Generated by `lbctl crds` from lbctl's Rust types; do not edit.\n");
    for crd in crate::model::all_crds() {
        out.push_str("---\n");
        out.push_str(&crate::output::to_yaml(&crd)?);
    }
    Ok(out)
}

/// `METHOD:PATH-SUBSTRING:STATUS[:COUNT]` for `lab up --fault`.
/// One `lab up --fault`: requests whose method is `method` (any when `None`) and whose path
/// contains `path_contains` fail with `status`, `count` times. The lab turns it into its own
/// fault type; the argument layer stays below the lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub count: usize,
}

pub fn parse_fault(spec: &str) -> Result<FaultSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (method, path, status, count) = match parts.as_slice() {
        [m, p, s] => (*m, *p, *s, "1"),
        [m, p, s, c] => (*m, *p, *s, *c),
        _ => {
            return Err(format!(
                "{spec:?}: expected METHOD:PATH-SUBSTRING:STATUS[:COUNT]"
            ))
        }
    };
    let status: u16 = status
        .parse()
        .ok()
        .filter(|s| (400..600).contains(s))
        .ok_or_else(|| format!("{spec:?}: STATUS must be an HTTP error code (400-599)"))?;
    let count: usize = count
        .parse()
        .map_err(|_| format!("{spec:?}: COUNT must be a whole number"))?;
    Ok(FaultSpec {
        method: (method != "*").then(|| method.to_ascii_uppercase()),
        path_contains: path.to_string(),
        status,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_flag_speaks_the_one_grammar() {
        use std::time::Duration;
        let cli = Cli::try_parse_from([
            "lbctl",
            "--request-timeout",
            "1m30s",
            "serve",
            "--lease-duration",
            "1m",
            "--renew-deadline",
            "2.5s",
            "--retry-period",
            "500ms",
        ])
        .unwrap();
        assert_eq!(cli.global.request_timeout, Duration::from_secs(90));
        let Command::Serve(s) = cli.command else {
            panic!("not serve: {:?}", cli.command)
        };
        assert_eq!(
            (s.lease_duration, s.renew_deadline, s.retry_period),
            (
                Duration::from_secs(60),
                Duration::from_millis(2500),
                Duration::from_millis(500)
            )
        );
        let probe =
            Cli::try_parse_from(["lbctl", "arp-probe", "10.0.0.1", "--timeout", "1h"]).unwrap();
        let Command::ArpProbe(p) = probe.command else {
            panic!("not arp-probe")
        };
        assert_eq!(p.timeout, Duration::from_secs(3600));
        for bad in ["-1s", "8761h", "soon"] {
            let flag = format!("--lease-duration={bad}");
            let e = Cli::try_parse_from(["lbctl", "serve", &flag]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            let text = e.to_string();
            assert!(
                text.contains("--lease-duration") && text.contains(bad),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn listen_addresses_of_either_family_may_be_bracketed() {
        assert_eq!(
            parse_listen("[10.0.0.7]:9963").unwrap(),
            "10.0.0.7:9963".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_listen("[fd00::7]:9963").unwrap(),
            "[fd00::7]:9963".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_listen("127.0.0.1:9963").is_ok());
        for bad in [
            "[]:1",
            "[10.0.0.7]",
            "10.0.0.7",
            "[10.0.0.7]:x",
            "[host]:1",
            "",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fault_specs() {
        let f = parse_fault("patch:/status:409").unwrap();
        assert_eq!(
            (
                f.method.as_deref(),
                f.path_contains.as_str(),
                f.status,
                f.count
            ),
            (Some("PATCH"), "/status", 409, 1)
        );
        let f = parse_fault("*:/leases:500:3").unwrap();
        assert_eq!((f.method, f.count), (None, 3));
        assert!(parse_fault("GET:/x").is_err());
        assert!(parse_fault("GET:/x:200").is_err());
        assert!(parse_fault("GET:/x:500:many").is_err());
    }
}

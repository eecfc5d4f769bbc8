//! `lbctl serve`'s flags resolved into what each engine runs with, in one pure step: every
//! default, fallback and derived setting is decided here, so [`super::run`] only wires engines
//! together and a unit test sees the whole resolution.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::cluster::Target;
use crate::ipam::EngineConfig;
use crate::l2::announcer::AnnouncerConfig;
use crate::lease::{LeaseConfig, Timings};
use crate::model::names;
use crate::output::CodedError;

use super::ServeConfig;

/// What the host supplies when the flags leave it open; read by [`HostDefaults::detect`] so
/// that [`ServePlan::from_args`] itself reads nothing.
#[derive(Clone, Debug)]
pub struct HostDefaults {
    /// The holder identity without `--node-name`/`$NODE_NAME`.
    pub hostname: String,
    /// The debug socket without `--debug-socket`.
    pub debug_socket: PathBuf,
}

impl HostDefaults {
    /// `$HOSTNAME`, else `/etc/hostname`, else `lbctl-<pid>`; the debug socket `lbctl debug`
    /// looks for by default.
    pub fn detect() -> HostDefaults {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| format!("lbctl-{}", std::process::id()));
        HostDefaults {
            hostname,
            debug_socket: crate::debug::default_socket(),
        }
    }
}

/// Everything `serve` runs with.
#[derive(Clone, Debug)]
pub struct ServePlan {
    /// The lease holder identity of every engine (Cilium uses the node name).
    pub identity: String,
    /// Where the leases live.
    pub namespace: String,
    pub target: Target,
    /// Bound on API requests in flight, per engine connection.
    pub max_in_flight: usize,
    pub metrics_addr: SocketAddr,
    pub debug_socket: PathBuf,
    /// LB IPAM and its leader lease; `None` with `--no-ipam`.
    pub ipam: Option<(ServeConfig, LeaseConfig)>,
    /// The L2 announcer; `None` unless `--announce`.
    pub l2: Option<AnnouncerConfig>,
    /// What sanitising the lease timings changed, in Cilium's words, for the operator to see.
    pub warnings: Vec<String>,
}

impl ServePlan {
    /// Resolves the flags. Fails (exit 2) when nothing would run or the timings cannot work.
    pub fn from_args(
        args: &ServeArgs,
        global: &GlobalArgs,
        host: HostDefaults,
    ) -> Result<ServePlan, CodedError> {
        if !args.ipam_enabled() && !args.announce_enabled() {
            return Err(CodedError::usage(
                "nothing to serve: --no-ipam and no --announce",
            ));
        }
        let identity = args
            .node_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or(host.hostname);
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| names::DEFAULT_AGENT_NAMESPACE.to_owned());
        // The Cilium agent's corrections (its `leaseTimings()`), with its warnings.
        let (timings, warnings) = crate::lease::sanitize_timings(
            args.lease_duration,
            args.renew_deadline,
            args.retry_period,
        );
        timings
            .validate()
            .map_err(|e| CodedError::usage(format!("lease timings: {e}")))?;
        let target = crate::cluster::Target::from_args(global);
        let ipam = args
            .ipam_enabled()
            .then(|| ipam_config(args, &target, &namespace, &identity, timings));
        let l2 = args.announce_enabled().then(|| AnnouncerConfig {
            node_name: identity.clone(),
            lease_namespace: namespace.clone(),
            lease_prefix: args.l2_lease_prefix.clone(),
            timings,
            field_manager: names::FIELD_MANAGER_L2.to_owned(),
        });
        Ok(ServePlan {
            identity,
            namespace,
            target,
            max_in_flight: args.max_requests_in_flight.into(),
            metrics_addr: args.metrics_addr,
            debug_socket: args.debug_socket.clone().unwrap_or(host.debug_socket),
            ipam,
            l2,
            warnings,
        })
    }
}

fn ipam_config(
    args: &ServeArgs,
    target: &Target,
    namespace: &str,
    identity: &str,
    timings: Timings,
) -> (ServeConfig, LeaseConfig) {
    let cfg = ServeConfig {
        engine: EngineConfig {
            ipv4: true,
            ipv6: args.enable_ipv6,
            default_lbipam: args.default_lb_service_ipam == names::DEFAULT_LB_SERVICE_IPAM_LBIPAM,
            classes: args.lb_classes.clone(),
            ..EngineConfig::default()
        },
        field_manager: args.field_manager.clone(),
        // Below the in-flight bound, so a burst of status writes never takes the last permits
        // from the IPAM lease's renewals.
        write_concurrency: usize::from(args.max_requests_in_flight)
            .saturating_sub(2)
            .max(1),
        watch_timeout_secs: crate::cluster::watch_timeout_secs(
            target.read_timeout(Default::default()),
        ),
        ..ServeConfig::default()
    };
    let lease = LeaseConfig::new(namespace, names::LBCTL_IPAM_LEASE, identity, timings);
    (cfg, lease)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn host() -> HostDefaults {
        HostDefaults {
            hostname: "host-a".into(),
            debug_socket: "/run/test/debug.sock".into(),
        }
    }

    fn plan(argv: &[&str]) -> Result<ServePlan, CodedError> {
        let cli = Cli::try_parse_from(["lbctl"].iter().chain(argv)).expect("flags parse");
        let Command::Serve(args) = cli.command else {
            panic!("not serve: {argv:?}")
        };
        ServePlan::from_args(&args, &cli.global, host())
    }

    #[test]
    fn defaults_run_ipam_alone_as_the_host_in_kube_system() {
        // `--node-name=` stands for an unset $NODE_NAME whatever the test's environment holds.
        let p = plan(&["serve", "--node-name="]).unwrap();
        assert_eq!(p.identity, "host-a");
        assert_eq!(p.namespace, "kube-system");
        assert_eq!(p.debug_socket, PathBuf::from("/run/test/debug.sock"));
        assert_eq!(p.metrics_addr, "127.0.0.1:9963".parse().unwrap());
        assert_eq!(p.max_in_flight, 32);
        assert!(p.l2.is_none());
        assert!(p.warnings.is_empty());
        let (cfg, lease) = p.ipam.expect("IPAM on by default");
        assert!(cfg.engine.ipv4 && !cfg.engine.ipv6 && cfg.engine.default_lbipam);
        assert_eq!(cfg.engine.classes, ["io.cilium/l2-announcer"]);
        assert_eq!(cfg.field_manager, "lbctl");
        assert_eq!(cfg.write_concurrency, 30);
        // Half the 30 s request timeout: a quiet watch ends on the server's side first.
        assert_eq!(cfg.watch_timeout_secs, Some(15));
        assert_eq!(
            (
                lease.namespace.as_str(),
                lease.name.as_str(),
                lease.identity.as_str()
            ),
            ("kube-system", names::LBCTL_IPAM_LEASE, "host-a")
        );
        assert_eq!(lease.timings, Timings::CILIUM_DEFAULT);
    }

    #[test]
    fn every_flag_reaches_its_engine() {
        let p = plan(&[
            "serve",
            "-n",
            "lb",
            "--node-name",
            "node-1",
            "--announce",
            "--l2-lease-prefix",
            "pre",
            "--enable-ipv6",
            "--default-lb-service-ipam",
            "none",
            "--lb-class",
            "a",
            "--lb-class",
            "b",
            "--field-manager",
            "fm",
            "--max-requests-in-flight",
            "2",
            "--request-timeout",
            "0",
            "--debug-socket",
            "/tmp/x.sock",
            "--metrics-addr",
            "[10.0.0.7]:1",
            "--lease-duration",
            "20s",
        ])
        .unwrap();
        assert_eq!(
            (p.identity.as_str(), p.namespace.as_str()),
            ("node-1", "lb")
        );
        assert_eq!(p.debug_socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(p.metrics_addr, "10.0.0.7:1".parse().unwrap());
        assert_eq!(p.target.request_timeout, None);
        let (cfg, lease) = p.ipam.unwrap();
        assert!(cfg.engine.ipv6 && !cfg.engine.default_lbipam);
        assert_eq!(cfg.engine.classes, ["a", "b"]);
        assert_eq!(cfg.field_manager, "fm");
        // Never zero, even when the bound leaves nothing beside the lease's renewals.
        assert_eq!(cfg.write_concurrency, 1);
        assert_eq!(cfg.watch_timeout_secs, None);
        assert_eq!(lease.namespace, "lb");
        let l2 = p.l2.expect("--announce");
        assert_eq!(
            (
                l2.node_name.as_str(),
                l2.lease_namespace.as_str(),
                l2.lease_prefix.as_str()
            ),
            ("node-1", "lb", "pre")
        );
        assert_eq!(l2.field_manager, names::FIELD_MANAGER_L2);
        assert_eq!(l2.timings.lease_duration, Duration::from_secs(20));
        assert_eq!(l2.timings, lease.timings);
    }

    #[test]
    fn timings_are_sanitised_like_cilium_with_its_warnings() {
        let p = plan(&[
            "serve",
            "--lease-duration",
            "4s",
            "--renew-deadline",
            "4s",
            "--retry-period",
            "1s",
        ])
        .unwrap();
        let (_, lease) = p.ipam.unwrap();
        assert_eq!(lease.timings.renew_deadline, Duration::from_secs(2));
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    }

    #[test]
    fn nothing_to_serve_is_a_usage_error() {
        for argv in [
            &["serve", "--no-ipam"][..],
            &["serve", "--no-ipam", "--no-announce"],
        ] {
            let e = plan(argv).unwrap_err();
            assert_eq!(e.code, crate::output::Exit::Usage);
            assert!(e.message.contains("nothing to serve"), "{e}");
        }
        let p = plan(&["serve", "--no-ipam", "--announce"]).unwrap();
        assert!(p.ipam.is_none() && p.l2.is_some());
    }
}

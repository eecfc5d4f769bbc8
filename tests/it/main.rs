//! lbctl's one integration-test binary (one binary so the kube stack links once).

mod support;

mod announce_lan;
mod announcer_lab;
mod api_timeouts;
mod architecture;
mod arp_probe;
mod cli_artifacts;
mod cli_ux;
mod deploy_rbac;
mod doctor;
mod doctor_checks;
mod doctor_fixes;
mod doctor_probe;
mod lab_auth;
mod lab_harden;
mod lab_kube;
mod lab_kubectl;
mod lease_lab;
mod netlan;
mod output_formats;
mod serve_ipam;
mod sigpipe;
mod soak;
mod stall;

//! lbctl's one integration-test binary (one binary so the kube stack links once).

// Helpers are shared by test modules that land on different branches; not all use each one.
#[allow(dead_code)]
mod support;

mod cli_artifacts;
mod lab_kube;
mod lab_kubectl;
mod serve_ipam;

//! lbctl's one integration-test binary (one binary so the kube stack links once).

mod support;

mod cli_artifacts;
mod doctor;
mod lab_kube;
mod lab_kubectl;

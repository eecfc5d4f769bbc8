//! lbctl: troubleshoot and serve Kubernetes LoadBalancer VIPs on bare metal.

pub mod cli;
pub mod lab;
pub mod model;
pub mod output;

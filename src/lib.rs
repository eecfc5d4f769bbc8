//! lbctl: troubleshoot and serve Kubernetes LoadBalancer VIPs on bare metal.

pub mod cli;
pub mod cluster;
pub mod ipam;
pub mod lab;
pub mod lease;
pub mod model;
pub mod output;
pub mod serve;

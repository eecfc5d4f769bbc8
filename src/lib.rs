//! lbctl: troubleshoot and serve Kubernetes LoadBalancer VIPs on bare metal.

pub mod cli;
pub mod cluster;
pub mod completion;
pub mod debug;
pub mod demo;
pub mod doctor;
pub mod duration;
#[cfg(test)]
mod exposition;
pub mod ipam;
pub mod l2;
pub mod lab;
pub mod lease;
pub mod model;
pub mod net;
pub mod netns;
pub mod output;
pub mod serve;

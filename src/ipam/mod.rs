//! LB-IPAM as pure logic: a sparse range allocator, pools built from blocks, first/last
//! reservation, capacity counts, conflict settling and the Service-side decisions, mirroring
//! Cilium's `pkg/ipalloc` and `operator/pkg/lbipam` (see `reference/cilium-semantics.md`
//! §1–§2).
//!
//! No I/O here: no kube client, no sockets, no clock. The serve loop feeds plain structs in
//! and writes the returned decisions out.

pub mod alloc;
pub mod block;
pub mod controller;
pub mod engine;
pub mod pool;
pub mod service;

pub(crate) use crate::ipam::alloc::IpCount;
pub use crate::ipam::alloc::RangeAllocator;
pub(crate) use crate::ipam::block::AllowFirstLast;
pub use crate::ipam::block::{parse_blocks, BlockSpec};
pub use crate::ipam::controller::{Controller, PoolInput, ServiceInput, ServiceKey};
pub use crate::ipam::engine::{requested_ips, EngineConfig, ServiceView};
pub use crate::ipam::pool::{Conflict, Pool, PoolSpec, PoolStore};

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

pub use crate::ipam::alloc::{AllocError, Family, IpCount, RangeAllocator, RangeError, Stats};
pub use crate::ipam::block::{
    parse_block, parse_blocks, parse_cidr, AllowFirstLast, BlockError, BlockErrorKind, BlockRange,
    BlockSpec,
};
pub use crate::ipam::controller::{
    Changes, CondSpec, Controller, DesiredPool, DesiredService, Gauges, PoolInput, PoolInputError,
    ServiceInput, ServiceKey,
};
pub use crate::ipam::engine::{
    is_compatible, is_responsible, requested_families, requested_ips, service_labels, EngineConfig,
    Families, Incompatible, IpLookup, RangeRef, ServiceView, SvcCondition,
};
pub use crate::ipam::pool::{
    Conflict, ConflictChange, LbRange, Pool, PoolCounts, PoolSpec, PoolStore, Slot, Upserted,
};

//! Lease-based leader election on `coordination.k8s.io/v1` Leases, compatible with client-go's
//! `leaderelection` as used by Cilium's L2 announcer (one lease per Service, `ReleaseOnCancel`,
//! re-contend forever), plus Cilium's GC of released leases.
//!
//! - `decide`: pure decisions (what to write, when to wait), timing sanitising, fencing.
//! - `elector`: one Tokio task per lease over `kube::Api<Lease>`, observed via `watch`.
//! - `gc`: which released leases to delete, and a one-shot GC pass.

pub(crate) mod decide;
pub mod elector;
pub(crate) mod gc;

#[cfg(test)]
mod elector_tests;
#[cfg(test)]
mod sim_tests;

pub(crate) use decide::sanitize_timings;
pub use decide::{Action, LeaseConfig, Observed, Timings};
pub(crate) use elector::LeaseError;
pub use elector::{LeaderState, LeaseHandle};
pub(crate) use gc::gc_once;

//! L2 announcements: which Services this node announces where (pure policy evaluation).

pub mod announcer;
pub mod consistency;
pub mod devices;
pub(crate) mod garp;
pub mod policy;
pub mod responder;
pub mod runtime;
pub mod sharing;

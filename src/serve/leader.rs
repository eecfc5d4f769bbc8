//! Leadership as a plain `watch::Receiver<bool>` for the IPAM loop: true only while we may
//! write. The lease elector publishes `Leading { valid_until }`; this adapter also turns the
//! flag off at `valid_until` on its own, so a stalled renew fences writes even before the
//! elector task gets to publish its step-down.

use tokio::sync::watch;
use tokio::time::Instant;

use crate::lease::{LeaderState, LeaseConfig, LeaseError, LeaseHandle};

/// A gate that is always open (tests, or a single replica without election).
pub fn always() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    // Keep the sender alive for the life of the process so `changed()` never errors.
    std::mem::forget(tx);
    rx
}

/// Contends for the lease and returns the elector (drop or `release()` it to step down) and
/// the gate.
pub(crate) fn elect(
    client: kube::Client,
    cfg: LeaseConfig,
) -> Result<(LeaseHandle, watch::Receiver<bool>), LeaseError> {
    let handle = LeaseHandle::spawn(client, cfg)?;
    let mut states = handle.subscribe();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            let now = Instant::now();
            let leading = state.is_leading_at(now);
            tx.send_if_modified(|v| std::mem::replace(v, leading) != leading);
            let deadline = match state {
                LeaderState::Leading { valid_until, .. } if leading => Some(valid_until),
                _ => None,
            };
            tokio::select! {
                changed = states.changed() => {
                    if changed.is_err() {
                        tx.send_if_modified(|v| std::mem::replace(v, false));
                        return;
                    }
                }
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        }
    });
    Ok((handle, rx))
}

//! Skipping a test that cannot run here: visible outside CI, a failure in CI. Included by
//! netlan.rs (so the benches, which include netlan.rs, have it too); support.rs re-exports it.
#![allow(dead_code)]

/// True in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Every test that cannot run here goes through this: in CI it fails the test; elsewhere it
/// prints `SKIP <test>: <reason>` where `cargo test` shows it, and the caller returns. libtest
/// captures `print!`/`eprint!` of a passing test (a skipped test would read `ok` and nothing
/// more), so the line is written to file descriptor 2 itself.
pub fn skip(test: &str, reason: &str) {
    assert!(
        !in_ci(),
        "{test}: {reason}, and CI is set: nothing may be skipped in CI"
    );
    let line = format!("SKIP {test}: {reason}\n");
    // SAFETY: writing a valid buffer to the process's stderr descriptor.
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
    }
}

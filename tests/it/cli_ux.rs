//! What the command line says about itself: help texts, flag names, usage errors.

use crate::support::{lbctl, stderr, stdout};

#[test]
fn serve_help_describes_what_serve_does_now() {
    let out = lbctl(None, &["serve", "--help"]);
    let help = stdout(&out);
    assert!(!help.contains("later"), "{help}");
    // -n is the leases' namespace for serve.
    let n = help
        .split("-n, --namespace")
        .nth(1)
        .expect("serve --help lists -n");
    let n: String = n.split("\n  -").next().unwrap().into();
    assert!(
        n.contains("for `serve`, the namespace of its leases"),
        "{n}"
    );
}

#[test]
fn debug_takes_the_socket_flag_its_errors_name() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    for flag in ["--debug-socket", "--socket"] {
        let out = lbctl(None, &["debug", flag, sock.to_str().unwrap(), "ipam"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{flag}: {err}");
        assert!(err.contains("no lbctl serve is listening"), "{flag}: {err}");
        // The advice names a flag debug accepts.
        assert!(err.contains("--debug-socket PATH"), "{err}");
    }
    let help = stdout(&lbctl(None, &["debug", "--help"]));
    assert!(help.contains("--debug-socket"), "{help}");
    assert!(
        !help.contains("--socket"),
        "the old name stays hidden:\n{help}"
    );
}

#[test]
fn arp_probe_refuses_a_zero_timeout_and_a_flooding_interval() {
    for (args, needle) in [
        (
            &["arp-probe", "192.0.2.1", "--timeout", "0"][..],
            "zero timeout",
        ),
        (
            &["arp-probe", "192.0.2.1", "--interval", "0"],
            "minimum interval",
        ),
        (
            &["arp-probe", "192.0.2.1", "--watch", "--interval", "1ms"],
            "minimum interval",
        ),
    ] {
        let out = lbctl(None, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

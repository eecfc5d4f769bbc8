//! Time-to-verdict of `lbctl arp-probe` against iputils `arping -c 1`, and the RTT each reports,
//! against the same kernel responder on a namespace LAN, in the same run.
//!
//! Needs root (network namespaces); skips with a message otherwise.
//! Run: `cargo bench --bench arp_probe` (env `BENCH_ROUNDS`, default 15).

#[path = "common.rs"]
mod common;
#[path = "../tests/it/netlan.rs"]
mod netlan;

use std::time::{Duration, Instant};

use common::{arping_rtts, median};
use netlan::Lan;

const BIN: &str = env!("CARGO_BIN_EXE_lbctl");

fn timed(lan: &Lan, program: &str, args: &[&str]) -> (Duration, String, i32) {
    let t = Instant::now();
    let out = lan.exec("client", program, args);
    let el = t.elapsed();
    (
        el,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if !netlan::is_root() {
        println!("arp_probe bench SKIPPED: needs root for network namespaces");
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let lan = Lan::new(&["client", "a"]);
    let ip = lan.host("a").ipv4.to_string();
    let ip6 = lan.host("a").ipv6.to_string();

    // Warm-up: page cache, neighbour tables.
    timed(&lan, BIN, &["arp-probe", &ip]);
    timed(&lan, "arping", &["-c", "1", "-I", "eth0", &ip]);

    let (mut probe_default, mut probe_nodup, mut probe6, mut arping1, mut arping_w) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut probe_rtt, mut arping_rtt) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Alternate the tools so that drift on the machine hits both alike.
        let (d, out, code) = timed(&lan, BIN, &["arp-probe", &ip, "-o", "json"]);
        assert_eq!(code, 0, "lbctl arp-probe failed: {out}");
        probe_default.push(ms(d));
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&out) {
            if let Some(r) = doc["responders"][0]["rtt_min_ms"].as_f64() {
                probe_rtt.push(r);
            }
        }
        let (d, out, code) = timed(&lan, "arping", &["-c", "1", "-I", "eth0", &ip]);
        assert_eq!(code, 0, "arping failed: {out}");
        arping1.push(ms(d));
        arping_rtt.extend(arping_rtts(&out));
        let (d, _, code) = timed(&lan, BIN, &["arp-probe", &ip, "--dup-window", "0"]);
        assert_eq!(code, 0);
        probe_nodup.push(ms(d));
        // With a deadline, -c counts replies and arping exits on the first one: the fairest
        // "first answer" comparison, though it cannot see a second owner.
        let (d, _, code) = timed(&lan, "arping", &["-c", "1", "-w", "2", "-I", "eth0", &ip]);
        assert_eq!(code, 0);
        arping_w.push(ms(d));
        let (d, _, code) = timed(&lan, BIN, &["arp-probe", &ip6]);
        assert_eq!(code, 0);
        probe6.push(ms(d));
    }
    let (pd, pn, p6, a1) = (
        median(probe_default),
        median(probe_nodup),
        median(probe6),
        median(arping1),
    );
    let (pr, ar) = (median(probe_rtt), median(arping_rtt));
    let aw = median(arping_w);
    println!(
        "arp-probe benchmark: kernel responder on a veth/bridge LAN, {rounds} rounds, medians"
    );
    println!("  wall time to verdict (process start to exit, both via `ip netns exec`):");
    println!(
        "    lbctl arp-probe IP (default, 300 ms dup window)  {pd:9.1} ms  ratio vs arping {:.3}x",
        pd / a1
    );
    println!(
        "    lbctl arp-probe IP --dup-window 0               {pn:9.1} ms  ratio vs arping {:.3}x",
        pn / a1
    );
    println!("    lbctl arp-probe IPv6 (NDP, default)              {p6:9.1} ms");
    println!("    arping -c 1 -I eth0 IP                           {a1:9.1} ms");
    println!("    arping -c 1 -w 2 -I eth0 IP (exits on 1st reply) {aw:9.1} ms");
    println!("  round-trip time reported:");
    println!("    lbctl rtt_min_ms  {pr:.3} ms");
    println!(
        "    arping            {ar:.3} ms   (lbctl/arping {:.2}x)",
        pr / ar
    );
    println!(
        "  goal: time-to-verdict ratio <= 0.5x: {}",
        if pd / a1 <= 0.5 { "met" } else { "NOT met" }
    );
}

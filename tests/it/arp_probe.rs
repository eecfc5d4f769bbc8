//! `lbctl arp-probe` against real peers on a namespace LAN: the kernel's own ARP/NDP answers,
//! iputils `arping` and `ndisc6` as cross-checks, and a host that injects garbage.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Output;
use std::time::{Duration, Instant};

use lbctl::net::codec::{self, Mac, ETH_HEADER_LEN, IPV6_HEADER_LEN};
use lbctl::net::probe::classify;
use proptest::prelude::*;

use crate::netlan::Lan;

const BIN: &str = env!("CARGO_BIN_EXE_lbctl");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn from_output(out: Output, elapsed: Duration) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

/// Runs `lbctl arp-probe ARGS…` in `host`'s namespace.
fn probe(lan: &Lan, host: &str, args: &[&str]) -> Run {
    let mut full = vec!["arp-probe"];
    full.extend_from_slice(args);
    let t = Instant::now();
    let out = lan.exec(host, BIN, &full);
    from_output(out, t.elapsed())
}

fn responder_macs(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["responders"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["mac"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// MACs in `[..]` brackets of iputils arping reply lines.
fn arping_macs(lan: &Lan, host: &str, ip: &str, count: u32) -> BTreeSet<String> {
    // With -w, -c counts replies to wait for; the deadline must exceed what -c needs.
    let c = count.to_string();
    let out = lan.exec(host, "arping", &["-c", &c, "-w", "3", "-I", "eth0", ip]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| {
            let open = l.find('[')?;
            let close = l.find(']')?;
            l.get(open + 1..close).map(str::to_lowercase)
        })
        .collect()
}

/// Every MAC `ndisc6 -m` (wait for all responses) prints.
fn ndisc6_macs(lan: &Lan, host: &str, ip: &str) -> BTreeSet<String> {
    let out = lan.exec(
        host,
        "ndisc6",
        &["-m", "-n", "-r", "2", "-w", "700", ip, "eth0"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter(|l| l.contains("Target link-layer address"))
        .filter_map(|l| l.split_whitespace().last().map(str::to_lowercase))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_code(r: &Run, code: i32) {
    assert_eq!(
        r.code, code,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
}

// ------------------------------------------------------------------------------------------
// IPv4

#[test]
fn v4_kernel_is_the_one_owner() {
    let Some(lan) = Lan::try_new("v4_kernel_is_the_one_owner", &["client", "a"]) else {
        return;
    };
    let a = lan.host("a").clone();
    let ip = a.ipv4.to_string();
    let r = probe(&lan, "client", &[&ip, "-o", "json"]);
    assert_code(&r, 0);
    let doc = r.json();
    assert_eq!(doc["schema"], "lbctl.arp-probe/v1");
    assert_eq!(doc["verdict"], "one_owner");
    assert_eq!(doc["protocol"], "arp");
    assert_eq!(responder_macs(&doc), set(&[&a.mac]));
    assert_eq!(doc["interface"]["name"], "eth0");
    assert_eq!(doc["interface"]["from_route"], true);
    assert_eq!(doc["interface"]["on_subnet"], true);
    let rtt = doc["responders"][0]["rtt_min_ms"].as_f64().unwrap_or(-1.0);
    assert!((0.0..50.0).contains(&rtt), "rtt {rtt} ms");
    let avg = doc["responders"][0]["rtt_avg_ms"].as_f64().unwrap_or(-1.0);
    assert!(avg >= rtt && avg < 100.0, "avg {avg} ms");
    // Fast verdict: first reply + the 300 ms duplicate window, not arping's 1 s rhythm.
    assert!(
        r.elapsed < Duration::from_millis(1000),
        "took {:?}",
        r.elapsed
    );

    // The human form names the interface, the subnet and the owner.
    let r = probe(&lan, "client", &[&ip]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("eth0"), "{}", r.stdout);
    assert!(r.stdout.contains("chosen by route lookup"), "{}", r.stdout);
    assert!(r.stdout.contains("is on eth0's subnet"), "{}", r.stdout);
    assert!(r.stdout.contains("one owner"), "{}", r.stdout);
    assert!(r.stdout.contains(&a.mac), "{}", r.stdout);

    // iputils arping agrees.
    assert_eq!(arping_macs(&lan, "client", &ip, 1), set(&[&a.mac]));
}

#[test]
fn v4_two_owners_are_both_listed() {
    let Some(lan) = Lan::try_new("v4_two_owners_are_both_listed", &["client", "a", "b"]) else {
        return;
    };
    lan.add_addr("a", "10.77.0.100/24");
    lan.add_addr("b", "10.77.0.100/24");
    let (ma, mb) = (lan.host("a").mac.clone(), lan.host("b").mac.clone());
    let r = probe(&lan, "client", &["10.77.0.100"]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("2 owners"), "{}", r.stdout);
    assert!(r.stdout.contains("ARP caches will flap"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&ma) && r.stdout.contains(&mb),
        "{}",
        r.stdout
    );

    let r = probe(&lan, "client", &["10.77.0.100", "-o", "json"]);
    assert_code(&r, 1);
    let doc = r.json();
    assert_eq!(doc["verdict"], "multiple_owners");
    assert_eq!(doc["owners"], 2);
    assert_eq!(responder_macs(&doc), set(&[&ma, &mb]));
    assert_eq!(
        arping_macs(&lan, "client", "10.77.0.100", 4),
        set(&[&ma, &mb])
    );
}

#[test]
fn v4_nobody_answers_within_timeout() {
    let Some(lan) = Lan::try_new("v4_nobody_answers_within_timeout", &["client", "a"]) else {
        return;
    };
    let r = probe(&lan, "client", &["10.77.0.200", "--timeout", "600ms"]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("no answer"), "{}", r.stdout);
    assert!(r.elapsed >= Duration::from_millis(550), "{:?}", r.elapsed);
    assert!(r.elapsed < Duration::from_millis(2000), "{:?}", r.elapsed);
    let r = probe(
        &lan,
        "client",
        &["10.77.0.200", "--timeout", "300ms", "-o", "json"],
    );
    assert_code(&r, 1);
    assert_eq!(r.json()["verdict"], "no_answer");
    assert!(arping_macs(&lan, "client", "10.77.0.200", 1).is_empty());
}

#[test]
fn v4_off_subnet_target_warns() {
    let Some(lan) = Lan::try_new("v4_off_subnet_target_warns", &["client", "a"]) else {
        return;
    };
    lan.ip("client", &["route", "add", "default", "via", "10.77.0.2"]);
    let r = probe(&lan, "client", &["10.99.0.5", "--timeout", "300ms"]);
    assert_code(&r, 1);
    assert!(
        r.stderr.contains("not on any subnet of eth0"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("via 10.77.0.2"), "{}", r.stderr);
    let r = probe(
        &lan,
        "client",
        &["10.99.0.5", "--timeout", "300ms", "-o", "json"],
    );
    let doc = r.json();
    assert_eq!(doc["interface"]["on_subnet"], false);
    assert_eq!(doc["interface"]["gateway"], "10.77.0.2");
}

#[test]
fn errors_map_to_exit_codes() {
    let Some(lan) = Lan::try_new("errors_map_to_exit_codes", &["client"]) else {
        return;
    };
    // No CAP_NET_RAW: exit 3 and the fix.
    let out = lan.exec(
        "client",
        "setpriv",
        &[
            "--inh-caps=-all",
            "--bounding-set=-net_raw",
            "--",
            BIN,
            "arp-probe",
            "10.77.0.9",
        ],
    );
    let r = from_output(out, Duration::ZERO);
    assert_code(&r, 3);
    assert!(r.stderr.contains("CAP_NET_RAW"), "{}", r.stderr);
    assert!(r.stderr.contains("setcap cap_net_raw+ep"), "{}", r.stderr);
    assert!(r.stderr.contains("sudo"), "{}", r.stderr);

    let r = probe(&lan, "client", &["10.77.0.9", "-i", "nope0"]);
    assert_code(&r, 3);
    assert!(r.stderr.contains("no such interface"), "{}", r.stderr);
    let r = probe(&lan, "client", &["10.77.0.9", "-i", "nope0", "-o", "json"]);
    assert_code(&r, 3);
    assert_eq!(r.json()["error"]["kind"], "no_such_interface");
    // Loopback has no Ethernet address.
    let r = probe(&lan, "client", &["10.77.0.9", "-i", "lo"]);
    assert_code(&r, 3);
    assert!(r.stderr.contains("no Ethernet address"), "{}", r.stderr);
    // Our own address: probed on the link that carries it, with a warning.
    let r = probe(&lan, "client", &["10.77.0.1", "--timeout", "300ms"]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("on eth0"), "{}", r.stdout);
    assert!(
        r.stderr.contains("configured on eth0 itself"),
        "{}",
        r.stderr
    );
    // No route at all.
    let r = probe(&lan, "client", &["10.99.0.9"]);
    assert_code(&r, 3);
    // Usage: not an address, or an address ARP cannot resolve.
    let r = probe(&lan, "client", &["not-an-ip"]);
    assert_code(&r, 2);
    let r = probe(&lan, "client", &["224.0.0.1", "-i", "eth0"]);
    assert_code(&r, 2);
}

// ------------------------------------------------------------------------------------------
// IPv6

#[test]
fn v6_kernel_is_the_one_owner() {
    let Some(lan) = Lan::try_new("v6_kernel_is_the_one_owner", &["client", "a"]) else {
        return;
    };
    let a = lan.host("a").clone();
    let ip = a.ipv6.to_string();
    let r = probe(&lan, "client", &[&ip, "-o", "json"]);
    assert_code(&r, 0);
    let doc = r.json();
    assert_eq!(doc["protocol"], "ndp");
    assert_eq!(doc["verdict"], "one_owner");
    assert_eq!(responder_macs(&doc), set(&[&a.mac]));
    // Solicitations go out from the link-local address, as RFC 4861 expects.
    let src: IpAddr = doc["interface"]["source_ip"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("source ip");
    assert_eq!(src, IpAddr::V6(lan.host("client").link_local));
    let rtt = doc["responders"][0]["rtt_min_ms"].as_f64().unwrap_or(-1.0);
    assert!((0.0..50.0).contains(&rtt), "rtt {rtt} ms");
    let r = probe(&lan, "client", &[&ip]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("with NDP on eth0"), "{}", r.stdout);
    assert_eq!(ndisc6_macs(&lan, "client", &ip), set(&[&a.mac]));
}

#[test]
fn v6_two_owners_are_both_listed() {
    let Some(lan) = Lan::try_new("v6_two_owners_are_both_listed", &["client", "a", "b"]) else {
        return;
    };
    lan.add_addr("a", "fd77::100/64");
    lan.add_addr("b", "fd77::100/64");
    let (ma, mb) = (lan.host("a").mac.clone(), lan.host("b").mac.clone());
    let r = probe(&lan, "client", &["fd77::100", "-o", "json"]);
    assert_code(&r, 1);
    let doc = r.json();
    assert_eq!(doc["verdict"], "multiple_owners");
    assert_eq!(responder_macs(&doc), set(&[&ma, &mb]));
    let r = probe(&lan, "client", &["fd77::100"]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("2 owners"), "{}", r.stdout);
    assert_eq!(ndisc6_macs(&lan, "client", "fd77::100"), set(&[&ma, &mb]));
}

#[test]
fn v6_nobody_answers_within_timeout() {
    let Some(lan) = Lan::try_new("v6_nobody_answers_within_timeout", &["client", "a"]) else {
        return;
    };
    let r = probe(&lan, "client", &["fd77::200", "--timeout", "500ms"]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("no answer"), "{}", r.stdout);
    assert!(r.elapsed < Duration::from_millis(2000), "{:?}", r.elapsed);
    assert!(ndisc6_macs(&lan, "client", "fd77::200").is_empty());
}

// ------------------------------------------------------------------------------------------
// --watch

fn watch_events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

#[test]
fn watch_sees_garp_and_moves_v4() {
    let Some(lan) = Lan::try_new("watch_sees_garp_and_moves_v4", &["client", "a", "b"]) else {
        return;
    };
    let (ma, mb) = (lan.host("a").mac.clone(), lan.host("b").mac.clone());
    lan.add_addr("a", "10.77.0.100/24");
    let watch = lan.spawn(
        "client",
        BIN,
        &[
            "arp-probe",
            "10.77.0.100",
            "--watch",
            "--interval",
            "200ms",
            "--dup-window",
            "100ms",
            "--duration",
            "5s",
            "-o",
            "json",
        ],
    );
    std::thread::sleep(Duration::from_millis(800));
    // Move to b and announce it with a gratuitous ARP request, then the reply form.
    lan.del_addr("a", "10.77.0.100/24");
    lan.add_addr("b", "10.77.0.100/24");
    lan.exec_ok(
        "b",
        "arping",
        &["-U", "-c", "1", "-I", "eth0", "10.77.0.100"],
    );
    std::thread::sleep(Duration::from_millis(300));
    lan.exec_ok(
        "b",
        "arping",
        &["-A", "-c", "1", "-I", "eth0", "10.77.0.100"],
    );
    std::thread::sleep(Duration::from_millis(800));
    // Move back to a without any announcement: only the probe rounds can see it.
    lan.del_addr("b", "10.77.0.100/24");
    lan.add_addr("a", "10.77.0.100/24");
    let (out, exited) = watch.wait_timeout(Duration::from_secs(10));
    assert!(exited, "watch did not stop after --duration");
    let r = from_output(out, Duration::ZERO);
    assert_code(&r, 0);
    let events = watch_events(&r.stdout);
    assert_eq!(events[0]["event"], "started", "{}", r.stdout);
    assert!(events
        .iter()
        .all(|e| e["schema"] == "lbctl.arp-probe.watch/v1"));
    let owners: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "owners").collect();
    let announcements: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "announcement")
        .collect();
    // Initial owner a, seen by a probe.
    assert_eq!(owners[0]["owners"], serde_json::json!([ma]), "{}", r.stdout);
    assert_eq!(owners[0]["previous"], serde_json::Value::Null);
    // The GARP request form moved it to b at once.
    assert!(
        announcements
            .iter()
            .any(|e| e["kind"] == "garp_request" && e["mac"] == mb.as_str()),
        "{}",
        r.stdout
    );
    assert!(
        announcements
            .iter()
            .any(|e| e["kind"] == "garp_reply" && e["mac"] == mb.as_str()),
        "{}",
        r.stdout
    );
    assert!(
        owners.iter().any(|e| e["owners"] == serde_json::json!([mb])
            && e["previous"] == serde_json::json!([ma])
            && e["cause"] == "announcement"),
        "{}",
        r.stdout
    );
    // The silent move back was seen by probing.
    let last = owners.last().expect("owner events");
    assert_eq!(last["owners"], serde_json::json!([ma]), "{}", r.stdout);
    assert_eq!(last["previous"], serde_json::json!([mb]), "{}", r.stdout);
    assert_eq!(last["cause"], "probe");
    // Never two owners at once during a clean move.
    assert!(
        owners.iter().all(|e| e["verdict"] != "multiple_owners"),
        "{}",
        r.stdout
    );
    // Timestamps are RFC 3339 UTC.
    let t = owners[0]["time"].as_str().unwrap_or("");
    assert!(t.len() == 24 && t.ends_with('Z') && t.contains('T'), "{t}");
}

#[test]
fn watch_text_mode_v6_unsolicited_na() {
    let Some(lan) = Lan::try_new("watch_text_mode_v6_unsolicited_na", &["client", "a", "b"]) else {
        return;
    };
    let mb = lan.host("b").mac.clone();
    // Linux sends an unsolicited NA (Override, target link-layer option) on address add
    // when ndisc_notify is on: a real peer for the announcement path.
    lan.exec_ok("b", "sysctl", &["-qw", "net.ipv6.conf.eth0.ndisc_notify=1"]);
    let watch = lan.spawn(
        "client",
        BIN,
        &[
            "arp-probe",
            "fd77::100",
            "--watch",
            "--interval",
            "300ms",
            "--duration",
            "5s",
        ],
    );
    // The initial "no answer" needs the process up and two silent rounds; under a loaded CI
    // (other namespace tests in parallel) 800 ms was not always enough.
    std::thread::sleep(Duration::from_millis(2500));
    // Without `nodad` (DAD is still off through accept_dad=0), so the kernel takes the
    // path that sends the NA.
    lan.ip("b", &["addr", "add", "fd77::100/64", "dev", "eth0"]);
    let (out, exited) = watch.wait_timeout(Duration::from_secs(10));
    assert!(exited);
    let r = from_output(out, Duration::ZERO);
    assert_code(&r, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains("watching"), "{}", r.stdout);
    assert!(
        lines.iter().any(|l| l.contains("no answer")),
        "initial state: {}",
        r.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unsolicited neighbor advertisement from") && l.contains(&mb)),
        "{}",
        r.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("owner changed") && l.contains(&mb)),
        "{}",
        r.stdout
    );
}

// ------------------------------------------------------------------------------------------
// Garbage on the wire

/// Sends raw Ethernet frames from the namespace of `host` (raw AF_PACKET socket, blocking).
pub fn inject(lan: &Lan, host: &str, frames: Vec<Vec<u8>>, rounds: usize, gap: Duration) {
    lan.in_netns(host, move || {
        // SAFETY: plain syscalls with checked results; buffers outlive the calls.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let name = std::ffi::CString::new("eth0").expect("name");
            let index = libc::if_nametoindex(name.as_ptr());
            assert!(index > 0);
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = index as i32;
            sll.sll_halen = 6;
            for _ in 0..rounds {
                for f in &frames {
                    let n = libc::sendto(
                        fd.as_raw_fd(),
                        f.as_ptr() as *const libc::c_void,
                        f.len(),
                        0,
                        &sll as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                    );
                    assert!(n >= 0, "sendto: {}", std::io::Error::last_os_error());
                }
                std::thread::sleep(gap);
            }
        }
    });
}

fn parse_mac(s: &str) -> Mac {
    s.parse().expect("mac")
}

/// ARP frames that claim to come from `ip` (so they pass the probe's kernel filter) but are
/// broken, plus replies for other addresses.
fn arp_garbage(evil: Mac, client: Mac, ip: std::net::Ipv4Addr) -> Vec<Vec<u8>> {
    let good = codec::encode_arp_reply(evil, ip, client, "10.77.0.1".parse().expect("ip"));
    let mut frames = Vec::new();
    for cut in [20, 31, 33, 40, 41] {
        frames.push(good[..cut].to_vec());
    }
    let mut bad_hlen = good.clone();
    bad_hlen[ETH_HEADER_LEN + 4] = 8;
    frames.push(bad_hlen);
    let mut bad_op = good.clone();
    bad_op[ETH_HEADER_LEN + 7] = 9;
    frames.push(bad_op);
    let mut bad_ptype = good.clone();
    bad_ptype[ETH_HEADER_LEN + 2] = 0x86;
    bad_ptype[ETH_HEADER_LEN + 3] = 0xdd;
    frames.push(bad_ptype);
    let mut bad_htype = good.clone();
    bad_htype[ETH_HEADER_LEN + 1] = 6;
    frames.push(bad_htype);
    // A "reply" whose sender MAC is multicast or zero.
    frames.push(codec::encode_arp_reply(
        Mac([0x01, 0, 0x5e, 0, 0, 1]),
        ip,
        client,
        "10.77.0.1".parse().expect("ip"),
    ));
    let mut zero = codec::encode_arp_reply(evil, ip, client, "10.77.0.1".parse().expect("ip"));
    zero[ETH_HEADER_LEN + 8..ETH_HEADER_LEN + 14].fill(0);
    frames.push(zero);
    // Valid replies, but for other addresses.
    for other in ["10.77.0.99", "10.77.0.1", "0.0.0.0"] {
        frames.push(codec::encode_arp_reply(
            evil,
            other.parse().expect("ip"),
            client,
            ip,
        ));
    }
    // The owner asking about someone else is not an answer either.
    frames.push(codec::encode_arp_request(
        evil,
        ip,
        "10.77.0.1".parse().expect("ip"),
    ));
    // Random bytes behind an ARP EtherType with the right sender address at offset 28.
    let mut noise: Vec<u8> = (0..60u32).map(|i| (i * 37 % 251) as u8).collect();
    noise[12] = 0x08;
    noise[13] = 0x06;
    noise[28..32].copy_from_slice(&ip.octets());
    frames.push(noise);
    frames
}

fn ndp_garbage(evil: Mac, ip: std::net::Ipv6Addr) -> Vec<Vec<u8>> {
    let good = codec::encode_unsolicited_na(evil, ip, ip);
    let l4 = ETH_HEADER_LEN + IPV6_HEADER_LEN;
    let mut frames = Vec::new();
    for cut in [60, 70, 78, good.len() - 1] {
        frames.push(good[..cut].to_vec());
    }
    let mut bad_sum = good.clone();
    bad_sum[l4 + 2] ^= 0x55;
    frames.push(bad_sum);
    let mut hop = good.clone();
    hop[ETH_HEADER_LEN + 7] = 64;
    frames.push(hop);
    let mut code = good.clone();
    code[l4 + 1] = 3;
    frames.push(code);
    let mut opt0 = good.clone();
    opt0[l4 + 25] = 0;
    frames.push(opt0);
    let mut long_plen = good.clone();
    long_plen[ETH_HEADER_LEN + 5] = 200;
    frames.push(long_plen);
    // A "solicited" advertisement sent to a multicast group (invalid per RFC 4861 §7.1.2).
    let solicited_mcast = codec::encode_neighbor_advert(
        evil,
        ip,
        Mac::ipv6_multicast(codec::ALL_NODES),
        codec::ALL_NODES,
        ip,
        codec::NaFlags {
            solicited: true,
            ..Default::default()
        },
    );
    frames.push(solicited_mcast);
    // Well-formed, but for other targets.
    for other in ["fd77::99", "fd77::1"] {
        let t: std::net::Ipv6Addr = other.parse().expect("ip");
        frames.push(codec::encode_unsolicited_na(evil, t, t));
    }
    frames
}

#[test]
fn garbage_frames_are_ignored_v4() {
    let Some(lan) = Lan::try_new("garbage_frames_are_ignored_v4", &["client", "a", "evil"]) else {
        return;
    };
    let a = lan.host("a").clone();
    let frames = arp_garbage(
        parse_mac(&lan.host("evil").mac),
        parse_mac(&lan.host("client").mac),
        a.ipv4,
    );
    let ip = a.ipv4.to_string();
    let p = lan.spawn(
        "client",
        BIN,
        &[
            "arp-probe",
            &ip,
            "--dup-window",
            "1200ms",
            "--timeout",
            "3s",
            "--count",
            "5",
            "-o",
            "json",
        ],
    );
    inject(&lan, "evil", frames, 50, Duration::from_millis(30));
    let (out, _) = p.wait_timeout(Duration::from_secs(10));
    let r = from_output(out, Duration::ZERO);
    assert_code(&r, 0);
    let doc = r.json();
    assert_eq!(responder_macs(&doc), set(&[&a.mac]), "{}", r.stdout);
    assert!(
        doc["ignored_frames"].as_u64().unwrap_or(0) > 0,
        "garbage never reached the probe: {}",
        r.stdout
    );
}

#[test]
fn garbage_frames_are_ignored_v6() {
    let Some(lan) = Lan::try_new("garbage_frames_are_ignored_v6", &["client", "a", "evil"]) else {
        return;
    };
    let a = lan.host("a").clone();
    let frames = ndp_garbage(parse_mac(&lan.host("evil").mac), a.ipv6);
    let ip = a.ipv6.to_string();
    let p = lan.spawn(
        "client",
        BIN,
        &[
            "arp-probe",
            &ip,
            "--dup-window",
            "1200ms",
            "--timeout",
            "3s",
            "--count",
            "5",
            "-o",
            "json",
        ],
    );
    inject(&lan, "evil", frames, 50, Duration::from_millis(30));
    let (out, _) = p.wait_timeout(Duration::from_secs(10));
    let r = from_output(out, Duration::ZERO);
    assert_code(&r, 0);
    let doc = r.json();
    assert_eq!(responder_macs(&doc), set(&[&a.mac]), "{}", r.stdout);
    assert!(
        doc["ignored_frames"].as_u64().unwrap_or(0) > 0,
        "{}",
        r.stdout
    );
}

/// The injected garbage, checked offline against the same pure classifier the probe uses.
#[test]
fn garbage_frames_classify_as_nothing() {
    let evil = Mac([2, 0xee, 0, 0, 0, 1]);
    let me = Mac([2, 0xcc, 0, 0, 0, 1]);
    let v4: std::net::Ipv4Addr = "10.77.0.2".parse().expect("ip");
    let v6: std::net::Ipv6Addr = "fd77::2".parse().expect("ip");
    for f in arp_garbage(evil, me, v4) {
        assert_eq!(classify(&f, v4.into(), me), None, "{f:02x?}");
    }
    for f in ndp_garbage(evil, v6) {
        assert_eq!(classify(&f, v6.into(), me), None, "{f:02x?}");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_count_as_an_owner_of_another_ip(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let me = Mac([2, 0xcc, 0, 0, 0, 1]);
        // Whatever the bytes, a frame can only ever be evidence for the address it names.
        if let Some((_, _)) = classify(&bytes, "10.77.0.2".parse().expect("ip"), me) {
            prop_assert!(bytes.len() >= 42);
            prop_assert!(bytes.windows(4).any(|w| w == [10, 77, 0, 2]));
        }
        let _ = classify(&bytes, "fd77::2".parse().expect("ip"), me);
        let _ = codec::decode(&bytes);
    }
}

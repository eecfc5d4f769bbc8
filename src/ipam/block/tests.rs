use std::net::IpAddr;

use proptest::prelude::*;

use crate::ipam::alloc::ip_to_u128;
use crate::ipam::block::{
    parse_block, parse_blocks, parse_cidr, render, reserves_first_last, BlockError, BlockErrorKind,
    BlockRange, BlockSpec, CIDR_BAD_ADDR, CIDR_BAD_BITS, CIDR_BITS_TOO_LONG, CIDR_NO_SLASH,
    CIDR_ZONE,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test literal")
}

fn ok(block: BlockSpec) -> BlockRange {
    parse_block(0, &block).expect("valid test block")
}

#[test]
fn cidr_is_masked_to_network_and_last_address() {
    let cases = [
        ("10.0.10.0/24", "10.0.10.0", "10.0.10.255"),
        ("10.0.10.77/24", "10.0.10.0", "10.0.10.255"),
        ("10.0.0.1/32", "10.0.0.1", "10.0.0.1"),
        ("10.0.0.1/31", "10.0.0.0", "10.0.0.1"),
        ("0.0.0.0/0", "0.0.0.0", "255.255.255.255"),
        ("192.168.1.1/0", "0.0.0.0", "255.255.255.255"),
        (
            "2001:db8::5/64",
            "2001:db8::",
            "2001:db8::ffff:ffff:ffff:ffff",
        ),
        ("2001:db8::5/128", "2001:db8::5", "2001:db8::5"),
        ("::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        (
            "::ffff:10.0.0.0/120",
            "::ffff:10.0.0.0",
            "::ffff:10.0.0.255",
        ),
    ];
    for (cidr, from, to) in cases {
        assert_eq!(parse_cidr(cidr), Ok((ip(from), ip(to))), "{cidr}");
        let r = ok(BlockSpec::cidr(cidr));
        assert!(r.from_cidr);
    }
}

#[test]
fn cidr_rejections_follow_go_netip() {
    let cases = [
        ("10.0.0.0", CIDR_NO_SLASH),
        ("10.0.0.0/", CIDR_BAD_BITS),
        ("10.0.0.0/33", CIDR_BITS_TOO_LONG),
        ("::/129", CIDR_BITS_TOO_LONG),
        ("10.0.0.0/024", CIDR_BAD_BITS),
        ("10.0.0.0/+24", CIDR_BAD_BITS),
        ("10.0.0.0/-1", CIDR_BAD_BITS),
        ("10.0.0.0/2 4", CIDR_BAD_BITS),
        ("10.0.0.0/99999999999999999999", CIDR_BAD_BITS),
        ("10.0.0/24", CIDR_BAD_ADDR),
        ("010.0.0.0/24", CIDR_BAD_ADDR),
        (" 10.0.0.0/24", CIDR_BAD_ADDR),
        ("fe80::1%eth0/64", CIDR_ZONE),
        ("/24", CIDR_BAD_ADDR),
    ];
    for (cidr, reason) in cases {
        assert_eq!(parse_cidr(cidr), Err(reason), "{cidr}");
    }
    assert_eq!(
        parse_cidr("10.0.0.0/0"),
        Ok((ip("0.0.0.0"), ip("255.255.255.255")))
    );
}

#[test]
fn cidr_wins_over_start_and_stop() {
    let r = ok(BlockSpec {
        cidr: Some("10.0.0.0/30".into()),
        start: Some("not an ip".into()),
        stop: Some("1.1.1.1".into()),
    });
    assert_eq!(
        (r.from, r.to, r.from_cidr),
        (ip("10.0.0.0"), ip("10.0.0.3"), true)
    );
}

#[test]
fn empty_strings_count_as_absent() {
    let r = ok(BlockSpec {
        cidr: Some(String::new()),
        start: Some("10.0.0.5".into()),
        stop: Some(String::new()),
    });
    assert_eq!(
        (r.from, r.to, r.from_cidr),
        (ip("10.0.0.5"), ip("10.0.0.5"), false)
    );
}

#[test]
fn start_alone_is_one_address_and_start_stop_is_inclusive() {
    let r = ok(BlockSpec::range("10.0.0.5", None));
    assert_eq!(
        (r.from, r.to, r.from_cidr),
        (ip("10.0.0.5"), ip("10.0.0.5"), false)
    );
    let r = ok(BlockSpec::range("10.0.0.5", Some("10.0.0.9")));
    assert_eq!(
        (r.from, r.to, r.from_cidr),
        (ip("10.0.0.5"), ip("10.0.0.9"), false)
    );
    let r = ok(BlockSpec::range("2001:db8::1", Some("2001:db8::1")));
    assert_eq!(r.from, r.to);
}

#[test]
fn every_block_error_names_index_and_text() {
    let cases: Vec<(BlockSpec, BlockErrorKind, &str)> = vec![
        (
            BlockSpec::cidr("10.0.0.0/33"),
            BlockErrorKind::BadCidr {
                text: "10.0.0.0/33".into(),
                reason: CIDR_BITS_TOO_LONG,
            },
            "spec.blocks[3]: invalid cidr '10.0.0.0/33': prefix length out of range for the address family",
        ),
        (
            BlockSpec::range("10.0.0.300", None),
            BlockErrorKind::BadStart {
                text: "10.0.0.300".into(),
            },
            "spec.blocks[3]: invalid start IP '10.0.0.300'",
        ),
        (
            BlockSpec::range("10.0.0.1", Some("nope")),
            BlockErrorKind::BadStop {
                text: "nope".into(),
            },
            "spec.blocks[3]: invalid stop IP 'nope'",
        ),
        (
            BlockSpec::range("10.0.0.1", Some("::1")),
            BlockErrorKind::MixedFamilies {
                start: "10.0.0.1".into(),
                stop: "::1".into(),
            },
            "spec.blocks[3]: start '10.0.0.1' and stop '::1': 'start' must be the same address family as 'stop'",
        ),
        (
            BlockSpec::range("10.0.0.9", Some("10.0.0.1")),
            BlockErrorKind::StartAfterStop {
                start: "10.0.0.9".into(),
                stop: "10.0.0.1".into(),
            },
            "spec.blocks[3]: start '10.0.0.9' and stop '10.0.0.1': 'start' must be less then or equal to 'stop'",
        ),
        (
            BlockSpec::default(),
            BlockErrorKind::Empty,
            "spec.blocks[3]: block has neither 'cidr' nor 'start' (Cilium rejects the whole pool)",
        ),
        (
            BlockSpec {
                cidr: None,
                start: None,
                stop: Some("10.0.0.1".into()),
            },
            BlockErrorKind::Empty,
            "spec.blocks[3]: block has neither 'cidr' nor 'start' (Cilium rejects the whole pool)",
        ),
    ];
    for (block, kind, message) in cases {
        let err = parse_block(3, &block).expect_err("invalid block");
        assert_eq!(err, BlockError { index: 3, kind });
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn parse_blocks_reports_every_bad_block() {
    let blocks = vec![
        BlockSpec::cidr("10.0.0.0/24"),
        BlockSpec::cidr("bad"),
        BlockSpec::range("10.0.1.1", None),
        BlockSpec::default(),
    ];
    let errs = parse_blocks(&blocks).expect_err("two bad blocks");
    let idx: Vec<usize> = errs.iter().map(|e| e.index).collect();
    assert_eq!(idx, vec![1, 3]);
    let good = parse_blocks(&blocks[..1]).expect("valid");
    assert_eq!(good.len(), 1);
    assert_eq!(parse_blocks(&[]), Ok(vec![]));
}

#[test]
fn first_last_reservation_needs_three_addresses() {
    // (range, reserves?) — Cilium's rule: CIDR blocks of three or more addresses only.
    let cases = [
        ("10.0.0.0/32", false),
        ("10.0.0.0/31", false),
        ("10.0.0.0/30", true),
        ("10.0.0.0/24", true),
        ("2001:db8::/128", false),
        ("2001:db8::/127", false),
        ("2001:db8::/126", true),
        ("::/0", true),
    ];
    for (cidr, expect) in cases {
        let (from, to) = parse_cidr(cidr).expect("valid");
        assert_eq!(reserves_first_last(from, to), expect, "{cidr}");
    }
}

#[test]
fn render_is_single_pass() {
    assert_eq!(
        render("a {x} b {y} {unknown} {", &[("x", "{y}"), ("y", "Y")]),
        "a {y} b Y {unknown} {"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn block_parser_never_panics(
        cidr in proptest::option::of(".{0,48}"),
        start in proptest::option::of(".{0,48}"),
        stop in proptest::option::of(".{0,48}"),
        index in any::<usize>(),
    ) {
        let block = BlockSpec { cidr, start, stop };
        match parse_block(index, &block) {
            Ok(r) => {
                prop_assert!(ip_to_u128(r.from) <= ip_to_u128(r.to));
                prop_assert_eq!(r.from.is_ipv4(), r.to.is_ipv4());
            }
            Err(e) => {
                prop_assert_eq!(e.index, index);
                let text = e.to_string();
                let prefix = format!("spec.blocks[{index}]: ");
                prop_assert!(text.starts_with(&prefix));
            }
        }
    }

    #[test]
    fn ip_like_strings_never_panic(
        a in "[0-9a-fA-F:.%/+-]{0,45}",
        b in "[0-9a-fA-F:.]{0,45}",
    ) {
        let _ = parse_cidr(&a);
        let _ = parse_block(0, &BlockSpec::range(a.clone(), Some(&b)));
        let _ = parse_block(0, &BlockSpec::cidr(a));
    }

    #[test]
    fn any_valid_v4_cidr_round_trips(addr in any::<u32>(), bits in 0u32..=32) {
        let text = format!("{}/{}", std::net::Ipv4Addr::from(addr), bits);
        let (from, to) = parse_cidr(&text).expect("valid");
        let (f, t) = (ip_to_u128(from), ip_to_u128(to));
        prop_assert_eq!(t - f + 1, 1u128 << (32 - bits));
        prop_assert!(f <= u128::from(addr) && u128::from(addr) <= t);
        prop_assert_eq!(f % (1u128 << (32 - bits)), 0);
    }

    #[test]
    fn any_valid_v6_cidr_round_trips(addr in any::<u128>(), bits in 0u32..=128) {
        let text = format!("{}/{}", std::net::Ipv6Addr::from(addr), bits);
        let (from, to) = parse_cidr(&text).expect("valid");
        let (f, t) = (ip_to_u128(from), ip_to_u128(to));
        prop_assert!(f <= addr && addr <= t);
        prop_assert_eq!(t - f, u128::MAX.checked_shr(bits).unwrap_or(0));
    }
}

#[test]
fn block_range_contains_its_ends_and_nothing_of_the_other_family() {
    let r = parse_block(0, &BlockSpec::cidr("10.0.0.0/30")).unwrap();
    assert!(r.contains(ip("10.0.0.0")) && r.contains(ip("10.0.0.3")));
    assert!(!r.contains(ip("10.0.0.4")) && !r.contains(ip("9.255.255.255")));
    assert!(!r.contains(ip("::a00:1")));
}

//! Pool blocks (`spec.blocks[]`) to address ranges, as Cilium's `operator/pkg/lbipam` reads them.
//!
//! Cilium fails the whole pool upsert on the first bad block and retries silently without
//! any status condition, so lbctl validates blocks itself and says exactly which block and
//! which text is wrong.

use std::fmt;
use std::net::IpAddr;

use crate::ipam::alloc::{ip_to_u128, u128_to_ip, Family};
use crate::model::names::{MSG_FAMILY_MISMATCH, MSG_START_AFTER_STOP};

// ---------------------------------------------------------------------------------------------
// consts: user-visible wording of this file (lbctl's own; Cilium gives no status for these).
// `{index}`, `{text}`, `{start}`, `{stop}`, `{reason}` are filled in by `render`.
// ---------------------------------------------------------------------------------------------

/// A `cidr` that does not parse.
pub(crate) const MSG_BAD_CIDR: &str = "spec.blocks[{index}]: invalid cidr '{text}': {reason}";
/// A `start` that is not an IP address.
pub(crate) const MSG_BAD_START: &str = "spec.blocks[{index}]: invalid start IP '{text}'";
/// A `stop` that is not an IP address.
pub(crate) const MSG_BAD_STOP: &str = "spec.blocks[{index}]: invalid stop IP '{text}'";
/// `start` and `stop` of different families; ends with Cilium's own wording.
pub(crate) const MSG_MIXED_FAMILIES: &str =
    "spec.blocks[{index}]: start '{start}' and stop '{stop}': {reason}";
/// `start` above `stop`; ends with Cilium's own wording.
pub(crate) const MSG_START_AFTER_STOP_BLOCK: &str =
    "spec.blocks[{index}]: start '{start}' and stop '{stop}': {reason}";
/// Neither `cidr` nor `start` is set.
pub(crate) const MSG_EMPTY_BLOCK: &str =
    "spec.blocks[{index}]: block has neither 'cidr' nor 'start' (Cilium rejects the whole pool)";

/// Reasons inside [`MSG_BAD_CIDR`].
pub(crate) const CIDR_NO_SLASH: &str = "missing '/' and prefix length";
/// The part before the slash is not an address.
pub(crate) const CIDR_BAD_ADDR: &str = "bad address before '/'";
/// IPv6 zones (`%eth0`) have no place in a prefix.
pub(crate) const CIDR_ZONE: &str = "IPv6 zones cannot be present in a prefix";
/// Not a plain decimal (signs and leading zeros are refused, as Go's `netip` does).
pub(crate) const CIDR_BAD_BITS: &str = "bad prefix length after '/'";
/// Longer than the address.
pub(crate) const CIDR_BITS_TOO_LONG: &str = "prefix length out of range for the address family";

/// `allowFirstLastIPs`. Unset means allowed (Cilium >= 1.16), so only `No` reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowFirstLast {
    Yes,
    No,
}

/// One entry of `spec.blocks` (or the deprecated `spec.cidrs`), as plain strings.
///
/// An empty string is treated like an absent field, as Cilium's Go zero values are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BlockSpec {
    pub cidr: Option<String>,
    pub start: Option<String>,
    pub stop: Option<String>,
}

impl BlockSpec {
    /// A block with only `cidr`.
    pub fn cidr(cidr: impl Into<String>) -> BlockSpec {
        BlockSpec {
            cidr: Some(cidr.into()),
            ..BlockSpec::default()
        }
    }

    /// A block with `start` and, if given, `stop`.
    pub fn range(start: impl Into<String>, stop: Option<&str>) -> BlockSpec {
        BlockSpec {
            cidr: None,
            start: Some(start.into()),
            stop: stop.map(str::to_owned),
        }
    }
}

/// An inclusive address range derived from a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRange {
    pub from: IpAddr,
    pub to: IpAddr,
    /// Only CIDR blocks can have their first and last address reserved.
    pub from_cidr: bool,
}

impl BlockRange {
    /// Whether `ip` lies in the range (an address of the other family never does).
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(ip) == Family::of(self.from)
            && ip_to_u128(self.from) <= ip_to_u128(ip)
            && ip_to_u128(ip) <= ip_to_u128(self.to)
    }
}

/// What is wrong with one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockErrorKind {
    BadCidr { text: String, reason: &'static str },
    BadStart { text: String },
    BadStop { text: String },
    MixedFamilies { start: String, stop: String },
    StartAfterStop { start: String, stop: String },
    Empty,
}

/// A block that cannot become a range; `index` is its position in `spec.blocks`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BlockError {
    pub index: usize,
    pub kind: BlockErrorKind,
}

/// Fills `{name}` placeholders of `template` in one pass, so substituted text (which may
/// hold arbitrary user input) is never scanned again.
pub(crate) fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match vars.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index.to_string();
        let index = ("index", index.as_str());
        let text = match &self.kind {
            BlockErrorKind::BadCidr { text, reason } => {
                render(MSG_BAD_CIDR, &[index, ("text", text), ("reason", reason)])
            }
            BlockErrorKind::BadStart { text } => render(MSG_BAD_START, &[index, ("text", text)]),
            BlockErrorKind::BadStop { text } => render(MSG_BAD_STOP, &[index, ("text", text)]),
            BlockErrorKind::MixedFamilies { start, stop } => render(
                MSG_MIXED_FAMILIES,
                &[
                    index,
                    ("start", start),
                    ("stop", stop),
                    ("reason", MSG_FAMILY_MISMATCH),
                ],
            ),
            BlockErrorKind::StartAfterStop { start, stop } => render(
                MSG_START_AFTER_STOP_BLOCK,
                &[
                    index,
                    ("start", start),
                    ("stop", stop),
                    ("reason", MSG_START_AFTER_STOP),
                ],
            ),
            BlockErrorKind::Empty => render(MSG_EMPTY_BLOCK, &[index]),
        };
        f.write_str(&text)
    }
}

fn non_empty(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.is_empty())
}

/// Parses `addr/bits` the way Go's `netip.ParsePrefix` accepts it, and returns the masked
/// range from the network address to the last address.
pub(crate) fn parse_cidr(text: &str) -> Result<(IpAddr, IpAddr), &'static str> {
    let (addr, bits) = text.split_once('/').ok_or(CIDR_NO_SLASH)?;
    if addr.contains('%') {
        return Err(CIDR_ZONE);
    }
    let addr: IpAddr = addr.parse().map_err(|_| CIDR_BAD_ADDR)?;
    let well_formed = !bits.is_empty()
        && bits.len() <= 3
        && bits.bytes().all(|b| b.is_ascii_digit())
        && !(bits.len() > 1 && bits.starts_with('0'));
    if !well_formed {
        return Err(CIDR_BAD_BITS);
    }
    let bits: u32 = bits.parse().map_err(|_| CIDR_BAD_BITS)?;
    let family = Family::of(addr);
    let width = family.bits();
    if bits > width {
        return Err(CIDR_BITS_TOO_LONG);
    }
    // Host bits of the family-wide integer; shifting by the full width is avoided for /0.
    let host_bits = width - bits;
    let host_mask = if host_bits == 0 {
        0
    } else {
        family.max_value() >> (width - host_bits)
    };
    let value = ip_to_u128(addr);
    let first = value & !host_mask & family.max_value();
    let last = first | host_mask;
    Ok((u128_to_ip(family, first), u128_to_ip(family, last)))
}

/// Turns block `index` into a range as Cilium does: `cidr` wins (and `start`/`stop` are
/// ignored); otherwise `start` alone is one address and `start`..`stop` is inclusive.
pub(crate) fn parse_block(index: usize, block: &BlockSpec) -> Result<BlockRange, BlockError> {
    let err = |kind| BlockError { index, kind };
    if let Some(cidr) = non_empty(&block.cidr) {
        let (from, to) = parse_cidr(cidr).map_err(|reason| {
            err(BlockErrorKind::BadCidr {
                text: cidr.to_owned(),
                reason,
            })
        })?;
        return Ok(BlockRange {
            from,
            to,
            from_cidr: true,
        });
    }
    let start_text = non_empty(&block.start).ok_or_else(|| err(BlockErrorKind::Empty))?;
    let from: IpAddr = start_text.parse().map_err(|_| {
        err(BlockErrorKind::BadStart {
            text: start_text.to_owned(),
        })
    })?;
    let Some(stop_text) = non_empty(&block.stop) else {
        return Ok(BlockRange {
            from,
            to: from,
            from_cidr: false,
        });
    };
    let to: IpAddr = stop_text.parse().map_err(|_| {
        err(BlockErrorKind::BadStop {
            text: stop_text.to_owned(),
        })
    })?;
    let pair = || (start_text.to_owned(), stop_text.to_owned());
    if Family::of(from) != Family::of(to) {
        let (start, stop) = pair();
        return Err(err(BlockErrorKind::MixedFamilies { start, stop }));
    }
    if ip_to_u128(from) > ip_to_u128(to) {
        let (start, stop) = pair();
        return Err(err(BlockErrorKind::StartAfterStop { start, stop }));
    }
    Ok(BlockRange {
        from,
        to,
        from_cidr: false,
    })
}

/// Parses every block and reports **every** bad block, not only the first (Cilium stops at
/// the first, but a user fixing a pool wants the whole list).
pub fn parse_blocks(blocks: &[BlockSpec]) -> Result<Vec<BlockRange>, Vec<BlockError>> {
    let mut ranges = Vec::with_capacity(blocks.len());
    let mut errors = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        match parse_block(index, block) {
            Ok(range) => ranges.push(range),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ranges)
    } else {
        Err(errors)
    }
}

/// Whether a CIDR range gets its first and last address reserved under
/// `allowFirstLastIPs: No`: only when it has three or more addresses, so /32, /31, /128 and
/// /127 are exempt (Cilium keeps point-to-point and host routes whole).
pub(crate) fn reserves_first_last(from: IpAddr, to: IpAddr) -> bool {
    let (a, b) = (ip_to_u128(from), ip_to_u128(to));
    b > a && b - a >= 2
}

#[cfg(test)]
mod tests;

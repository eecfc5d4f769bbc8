//! `lbctl arp-probe`: the command-line face of [`crate::net::probe`].

use std::io::IsTerminal;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::Duration;

use comfy_table::{CellAlignment, Table};
use serde::{Serialize, Serializer};

use crate::net::codec::Mac;
use crate::net::probe::{
    self, duration_ms, rfc3339, ChangeCause, ProbeError, ProbeInterface, ProbeOptions, ProbeReport,
    Protocol, Verdict, WatchEvent, WatchOptions,
};
use crate::output::{Printer, Render, Style, Tone};

/// Schema id of the `-o json` probe document.
pub(crate) const JSON_SCHEMA: &str = "lbctl.arp-probe/v1";
/// Schema id of each `-o json --watch` line.
pub(crate) const JSON_WATCH_SCHEMA: &str = "lbctl.arp-probe.watch/v1";

pub use crate::cli::ArpProbeArgs;
#[cfg(test)]
use crate::cli::{parse_interval, parse_ip, parse_timeout, MIN_INTERVAL};

/// The vendor registered for the MAC's OUI, from an offline copy of the IEEE list.
pub(crate) fn vendor(mac: Mac) -> Option<String> {
    if mac.is_local() {
        return Some("(locally administered)".to_string());
    }
    macaddr_ouidb::OUI_DB_BUNDLED
        .lookup(&mac.0)
        .map(|e| e.name().to_string())
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.3} ms", duration_ms(d))
}

fn caches(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Arp => "ARP caches will flap",
        Protocol::Ndp => "neighbor caches will flap",
    }
}

/// The one-line verdict, e.g. `one owner: 10.0.0.5 is at 02:…`.
pub(crate) fn verdict_line(report: &ProbeReport) -> String {
    let macs: Vec<String> = report
        .responders
        .iter()
        .map(|r| r.mac.to_string())
        .collect();
    match report.verdict() {
        Verdict::OneOwner => format!("one owner: {} is at {}", report.ip, macs.join("")),
        Verdict::NoAnswer => format!(
            "no answer: nobody answered for {} within {}",
            report.ip,
            fmt_ms(report.elapsed)
        ),
        Verdict::MultipleOwners => format!(
            "{} owners — {}: {}",
            macs.len(),
            caches(report.protocol),
            macs.join(", ")
        ),
    }
}

fn interface_lines(ip: IpAddr, protocol: Protocol, i: &ProbeInterface) -> (String, Vec<String>) {
    let how = if i.from_route {
        "chosen by route lookup"
    } else {
        "given with -i"
    };
    let src = i
        .source_ip
        .map_or_else(|| "unspecified".to_string(), |s| s.to_string());
    let proto = match protocol {
        Protocol::Arp => "ARP",
        Protocol::Ndp => "NDP",
    };
    let subnet = if i.on_subnet {
        format!("{ip} is on {}'s subnet", i.name)
    } else {
        format!("{ip} is not on {}'s subnet", i.name)
    };
    let info = format!(
        "probing {ip} with {proto} on {} ({how}; mac {}, source {src}); {subnet}",
        i.name, i.mac
    );
    let mut warnings = Vec::new();
    if !i.on_subnet {
        let via = i
            .gateway
            .map(|g| format!(" (the kernel routes it via {g})"))
            .unwrap_or_default();
        warnings.push(format!(
            "{ip} is not on any subnet of {}{via}: only proxy ARP/NDP can answer here, or nothing; \
             run the probe from a host on the address's LAN or pick the interface with -i",
            i.name
        ));
    }
    if i.address_is_local {
        warnings.push(format!(
            "{ip} is configured on {} itself; this host's own answer is not visible on the wire",
            i.name
        ));
    }
    (info, warnings)
}

fn report_table(report: &ProbeReport, wide: bool, style: Style) -> Table {
    let mut t = style.boxed_table();
    let mut header = vec!["MAC", "VENDOR", "REPLIES", "FIRST", "RTT MIN", "RTT AVG"];
    if wide {
        header.push("RTT MAX");
    }
    t.set_header(header);
    for r in &report.responders {
        let mut row = vec![
            r.mac.to_string(),
            vendor(r.mac).unwrap_or_else(|| "-".to_string()),
            r.replies.to_string(),
            fmt_ms(r.first_reply),
            fmt_ms(r.rtt_min),
            fmt_ms(r.rtt_avg),
        ];
        if wide {
            row.push(fmt_ms(r.rtt_max));
        }
        t.add_row(row);
    }
    for col in 2..if wide { 7 } else { 6 } {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// A finished probe as `lbctl arp-probe` prints it: JSON/YAML are [`report_json`].
struct ProbeView<'a> {
    report: &'a ProbeReport,
    info: String,
    warnings: Vec<String>,
}

impl Serialize for ProbeView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        report_json(self.report, &self.warnings).serialize(s)
    }
}

impl Render for ProbeView<'_> {
    fn human(&self, wide: bool, style: Style) -> String {
        let report = self.report;
        let mut out = format!("{}\n", style.paint(&self.info, Tone::Dim));
        if !report.responders.is_empty() {
            out.push_str(&format!("{}\n", report_table(report, wide, style)));
        }
        let line = verdict_line(report);
        let tone = match report.verdict() {
            Verdict::OneOwner => Tone::Good,
            _ => Tone::Bad,
        };
        let n = report.requests_sent;
        let mut tail = format!(
            "({n} request{} in {}",
            if n == 1 { "" } else { "s" },
            fmt_ms(report.elapsed)
        );
        if wide {
            tail.push_str(&format!(
                "; {} ignored frame{}",
                report.ignored_frames,
                if report.ignored_frames == 1 { "" } else { "s" }
            ));
        }
        tail.push(')');
        out.push_str(&format!(
            "{} {}\n",
            style.paint(&line, tone),
            style.paint(&tail, Tone::Dim)
        ));
        out
    }
}

/// The `-o json` document of a finished probe (schema `lbctl.arp-probe/v1`):
///
/// ```json
/// { "schema": "lbctl.arp-probe/v1", "ip": "10.0.0.5", "protocol": "arp" | "ndp",
///   "interface": { "name", "index", "mac", "source_ip" | null, "from_route": bool,
///                  "on_subnet": bool, "gateway" | null, "address_is_local": bool },
///   "requests_sent": 3, "elapsed_ms": 301.2,
///   "verdict": "one_owner" | "no_answer" | "multiple_owners", "owners": 1,
///   "responders": [ { "mac", "vendor" | null, "replies", "first_reply_ms",
///                     "rtt_min_ms", "rtt_avg_ms", "rtt_max_ms" } ],
///   "ignored_frames": 0, "warnings": [ "…" ] }
/// ```
/// Times are milliseconds (float, microsecond precision). On failure the document is
/// `{ "schema", "ip", "error": { "kind", "message", "fix" | null } }`.
pub(crate) fn report_json(report: &ProbeReport, warnings: &[String]) -> serde_json::Value {
    let responders: Vec<serde_json::Value> = report
        .responders
        .iter()
        .map(|r| {
            serde_json::json!({
                "mac": r.mac,
                "vendor": vendor(r.mac),
                "replies": r.replies,
                "first_reply_ms": duration_ms(r.first_reply),
                "rtt_min_ms": duration_ms(r.rtt_min),
                "rtt_avg_ms": duration_ms(r.rtt_avg),
                "rtt_max_ms": duration_ms(r.rtt_max),
            })
        })
        .collect();
    serde_json::json!({
        "schema": JSON_SCHEMA,
        "ip": report.ip,
        "protocol": report.protocol,
        "interface": report.interface,
        "requests_sent": report.requests_sent,
        "elapsed_ms": duration_ms(report.elapsed),
        "verdict": report.verdict(),
        "owners": report.responders.len(),
        "responders": responders,
        "ignored_frames": report.ignored_frames,
        "warnings": warnings,
    })
}

const SETCAP_FIX: &str =
    "run it with sudo, or grant the capability once: sudo setcap cap_net_raw+ep $(which lbctl)";

fn error_kind(e: &ProbeError) -> &'static str {
    match e {
        ProbeError::PermissionDenied { .. } => "permission_denied",
        ProbeError::NoSuchInterface(_) => "no_such_interface",
        ProbeError::NotEthernet(_) => "not_ethernet",
        ProbeError::InterfaceDown(_) => "interface_down",
        ProbeError::NoRoute(_) => "no_route",
        ProbeError::InvalidAddress(_) => "invalid_address",
        ProbeError::Io { .. } => "io",
        ProbeError::Netlink(_) => "netlink",
    }
}

fn error_fix(e: &ProbeError) -> Option<String> {
    match e {
        ProbeError::PermissionDenied { .. } => Some(SETCAP_FIX.to_string()),
        ProbeError::NoSuchInterface(_) => {
            Some("list interfaces with `ip -br link` and pass one with -i".to_string())
        }
        ProbeError::NotEthernet(_) | ProbeError::NoRoute(_) => {
            Some("pass the LAN interface with -i IFACE".to_string())
        }
        ProbeError::InterfaceDown(n) => Some(format!("bring it up: ip link set {n} up")),
        _ => None,
    }
}

/// A probe that could not run, as the JSON/YAML document of `docs/arp-probe-json.md`; a
/// person reads the error on stderr instead, so its human form is empty.
struct ErrorView<'a> {
    ip: IpAddr,
    error: &'a ProbeError,
}

impl Serialize for ErrorView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "schema": JSON_SCHEMA,
            "ip": self.ip,
            "error": {
                "kind": error_kind(self.error),
                "message": self.error.to_string(),
                "fix": error_fix(self.error),
            },
        })
        .serialize(s)
    }
}

impl Render for ErrorView<'_> {
    fn human(&self, _wide: bool, _style: Style) -> String {
        String::new()
    }
}

/// Says what went wrong (the document on stdout for a program, the message on stderr for
/// everyone) and returns the exit code. `stream`: one item of `--watch`'s stream.
fn report_error(ip: IpAddr, e: &ProbeError, printer: &Printer, stream: bool) -> anyhow::Result<u8> {
    let style = printer.style;
    eprintln!("{} {e}", style.paint("error:", Tone::Bad));
    if let Some(f) = error_fix(e) {
        eprintln!("{} {f}", style.paint("fix:", Tone::Warn));
    }
    let view = ErrorView { ip, error: e };
    if stream {
        printer.emit_item(&view)?;
    } else {
        printer.emit(&view)?;
    }
    Ok(e.exit_code())
}

fn spinner(enabled: bool, msg: String) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(80));
    Some(pb)
}

fn exit_for(v: Verdict) -> u8 {
    match v {
        Verdict::OneOwner => 0,
        Verdict::NoAnswer | Verdict::MultipleOwners => 1,
    }
}

/// Runs `lbctl arp-probe` and returns the process exit code.
pub async fn run(args: &ArpProbeArgs, printer: &Printer) -> anyhow::Result<u8> {
    if args.watch {
        return run_watch(args, printer).await;
    }
    let opts = ProbeOptions {
        count: args.count,
        interval: args.interval.unwrap_or(Duration::from_millis(100)),
        timeout: args.timeout,
        dup_window: args.dup_window,
    };
    let pb = spinner(!printer.is_machine(), format!("probing {} …", args.ip));
    let res = probe::probe(args.ip, args.interface.as_deref(), opts).await;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let report = match res {
        Ok(r) => r,
        Err(e) => return report_error(args.ip, &e, printer, false),
    };
    let (info, warnings) = interface_lines(report.ip, report.protocol, &report.interface);
    if !printer.is_machine() {
        // The document carries them; a person sees them apart from the result.
        for w in &warnings {
            eprintln!("{} {w}", printer.style.paint("warning:", Tone::Warn));
        }
    }
    printer.emit(&ProbeView {
        report: &report,
        info,
        warnings,
    })?;
    Ok(exit_for(report.verdict()))
}

fn mac_list(m: &[Mac]) -> String {
    if m.is_empty() {
        "nobody".to_string()
    } else {
        m.iter().map(Mac::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// One human line per watch event.
fn watch_line(e: &WatchEvent, protocol: Protocol, style: Style) -> String {
    match e {
        WatchEvent::Started {
            time,
            ip,
            protocol,
            interface,
        } => {
            let (info, _) = interface_lines(*ip, *protocol, interface);
            format!("{}  watching: {info}", rfc3339(*time))
        }
        WatchEvent::Announcement { time, mac, kind } => {
            format!("{}  {} from {mac}", rfc3339(*time), kind.describe())
        }
        WatchEvent::Owners {
            time,
            owners,
            previous,
            verdict,
            cause,
        } => {
            let by = match cause {
                ChangeCause::Probe => "probe",
                ChangeCause::Announcement => "announcement",
            };
            let what = match (verdict, previous) {
                (Verdict::OneOwner, None) => {
                    style.paint(&format!("owner {}", mac_list(owners)), Tone::Good)
                }
                (Verdict::OneOwner, Some(p)) => style.paint(
                    &format!("owner changed: {} -> {}", mac_list(p), mac_list(owners)),
                    Tone::Good,
                ),
                (Verdict::NoAnswer, None) => style.paint("no answer", Tone::Bad),
                (Verdict::NoAnswer, Some(p)) => {
                    style.paint(&format!("no answer (was {})", mac_list(p)), Tone::Bad)
                }
                (Verdict::MultipleOwners, _) => style.paint(
                    &format!(
                        "{} owners — {}: {}",
                        owners.len(),
                        caches(protocol),
                        mac_list(owners)
                    ),
                    Tone::Bad,
                ),
            };
            format!(
                "{}  {what} {}",
                rfc3339(*time),
                style.paint(&format!("[{by}]"), Tone::Dim)
            )
        }
    }
}

/// Resolves once stdout is a pipe whose reader went away (`--watch | head`): with a stable
/// owner no further write would ever notice.
async fn stdout_closed() {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut pfd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return;
        }
    }
}

/// One `--watch` event: a line for a person; for a program the event's fields with
/// `"schema": "lbctl.arp-probe.watch/v1"`, `"event"`: `started` | `announcement` | `owners`, and
/// `"time"` (RFC 3339 UTC).
struct WatchView<'a> {
    event: &'a WatchEvent,
    protocol: Protocol,
}

impl Serialize for WatchView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.event).map_err(serde::ser::Error::custom)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("schema".into(), JSON_WATCH_SCHEMA.into());
        }
        v.serialize(s)
    }
}

impl Render for WatchView<'_> {
    fn human(&self, _wide: bool, style: Style) -> String {
        watch_line(self.event, self.protocol, style) + "\n"
    }
}

/// `--watch`: one item per event ([`WatchView`]): a line, a JSON line, or a YAML document.
async fn run_watch(args: &ArpProbeArgs, printer: &Printer) -> anyhow::Result<u8> {
    let opts = WatchOptions {
        interval: args.interval.unwrap_or(Duration::from_secs(1)),
        dup_window: args.dup_window,
        duration: args.duration,
        ..WatchOptions::default()
    };
    let protocol = if args.ip.is_ipv4() {
        Protocol::Arp
    } else {
        Protocol::Ndp
    };
    let mut last_owners: Vec<Mac> = Vec::new();
    let on_event = |e: &WatchEvent| {
        if let WatchEvent::Owners { owners, .. } = e {
            last_owners.clone_from(owners);
        }
        // A closed pipe (`| head`) ends the watch quietly; the verdict so far is the exit code.
        match printer.emit_item(&WatchView { event: e, protocol }) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    };
    let watch = probe::watch(args.ip, args.interface.as_deref(), opts, on_event);
    let res = tokio::select! {
        r = watch => Some(r),
        _ = tokio::signal::ctrl_c() => None,
        _ = stdout_closed() => None,
    };
    match res {
        Some(Err(e)) => report_error(args.ip, &e, printer, true),
        Some(Ok(summary)) => Ok(exit_for(summary.verdict)),
        None => Ok(exit_for(match last_owners.len() {
            0 => Verdict::NoAnswer,
            1 => Verdict::OneOwner,
            _ => Verdict::MultipleOwners,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert_eq!(
            parse_ip("::ffff:192.168.1.7").unwrap(),
            "192.168.1.7".parse::<IpAddr>().unwrap()
        );
        assert!(parse_ip("fd00::7").unwrap().is_ipv6());
        assert!(parse_ip("192.168.1.999").is_err());
    }

    #[test]
    fn zero_timeout_and_flooding_intervals_are_refused() {
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("0ms").is_err());
        assert_eq!(parse_timeout("1ms").unwrap(), Duration::from_millis(1));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("9ms").is_err());
        assert_eq!(parse_interval("10ms").unwrap(), MIN_INTERVAL);
    }

    #[test]
    fn vendors() {
        assert_eq!(
            vendor(Mac([0x02, 0, 0, 0, 0, 1])).as_deref(),
            Some("(locally administered)")
        );
        // 00:00:0c is Cisco's first OUI.
        assert!(vendor(Mac([0, 0, 0x0c, 1, 2, 3]))
            .unwrap_or_default()
            .to_lowercase()
            .contains("cisco"));
    }
}

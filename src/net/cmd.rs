//! `lbctl arp-probe`: the command-line face of [`crate::net::probe`].

use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::Duration;

use comfy_table::{presets, CellAlignment, Table};
use owo_colors::OwoColorize;

use crate::net::codec::Mac;
use crate::net::probe::{
    self, duration_ms, rfc3339, ChangeCause, ProbeError, ProbeInterface, ProbeOptions, ProbeReport,
    Protocol, Verdict, WatchEvent, WatchOptions,
};

/// Schema id of the `-o json` probe document.
pub const JSON_SCHEMA: &str = "lbctl.arp-probe/v1";
/// Schema id of each `-o json --watch` line.
pub const JSON_WATCH_SCHEMA: &str = "lbctl.arp-probe.watch/v1";

/// Who answers ARP (IPv4) or NDP (IPv6) for an address on this LAN.
///
/// Exit status: 0 exactly one owner, 1 no answer or several owners, 2 usage,
/// 3 permission or interface problem.
#[derive(clap::Args, Debug, Clone)]
pub struct ArpProbeArgs {
    /// The IPv4 or IPv6 address to probe (an IPv4-mapped `::ffff:a.b.c.d` is probed as the
    /// IPv4 address it is, over ARP).
    #[arg(value_name = "IP", value_parser = parse_ip)]
    pub ip: IpAddr,
    /// Interface to probe on [default: the one the kernel routes IP through].
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// Most requests to send.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Gap between requests, at least 10ms [default: 100ms, or 1s with --watch].
    #[arg(long, value_name = "D", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Give up when nobody answered within this time (more than 0).
    #[arg(long, value_name = "D", value_parser = parse_timeout, default_value = "1s")]
    pub timeout: Duration,
    /// After the first answer, keep listening this long for a second owner.
    #[arg(long = "dup-window", value_name = "D", value_parser = parse_duration,
          default_value = "300ms")]
    pub dup_window: Duration,
    /// Keep probing and listening for gratuitous ARP / unsolicited NA; print every
    /// change of owner with a timestamp.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop after this long [default: until interrupted].
    #[arg(long, value_name = "D", value_parser = parse_duration, requires = "watch")]
    pub duration: Option<Duration>,
}

/// The smallest `--interval`: 100 requests a second is already a lot for a LAN probe; less
/// than that floods the segment (0 sent ~110,000 requests a second).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_INTERVAL {
        return Err(format!(
            "{s:?} is below the minimum interval of {}ms (it would flood the LAN)",
            MIN_INTERVAL.as_millis()
        ));
    }
    Ok(d)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "{s:?}: a zero timeout would send nothing and wait for nothing; give a positive time"
        ));
    }
    Ok(d)
}

/// An address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address: no host answers
/// NDP for it, the owner answers ARP.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Parses `300ms`, `1s`, `1.5s`, `2m`, `100us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 300ms, 1s, 1.5s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The vendor registered for the MAC's OUI, from an offline copy of the IEEE list.
pub fn vendor(mac: Mac) -> Option<String> {
    if mac.is_local() {
        return Some("(locally administered)".to_string());
    }
    macaddr_ouidb::OUI_DB_BUNDLED
        .lookup(&mac.0)
        .map(|e| e.name().to_string())
}

struct Style {
    color: bool,
}

impl Style {
    fn good(&self, s: &str) -> String {
        if self.color {
            s.green().bold().to_string()
        } else {
            s.to_string()
        }
    }
    fn bad(&self, s: &str) -> String {
        if self.color {
            s.red().bold().to_string()
        } else {
            s.to_string()
        }
    }
    fn warn(&self, s: &str) -> String {
        if self.color {
            s.yellow().to_string()
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        if self.color {
            s.dimmed().to_string()
        } else {
            s.to_string()
        }
    }
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
pub fn verdict_line(report: &ProbeReport) -> String {
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

fn report_table(report: &ProbeReport) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "MAC", "VENDOR", "REPLIES", "FIRST", "RTT MIN", "RTT AVG",
    ]);
    for r in &report.responders {
        t.add_row(vec![
            r.mac.to_string(),
            vendor(r.mac).unwrap_or_else(|| "-".to_string()),
            r.replies.to_string(),
            fmt_ms(r.first_reply),
            fmt_ms(r.rtt_min),
            fmt_ms(r.rtt_avg),
        ]);
    }
    for col in 2..6 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
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
pub fn report_json(report: &ProbeReport, warnings: &[String]) -> serde_json::Value {
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

fn report_error(ip: IpAddr, e: &ProbeError, json: bool, style: &Style) -> u8 {
    let fix = error_fix(e);
    if json {
        let doc = serde_json::json!({
            "schema": JSON_SCHEMA,
            "ip": ip,
            "error": { "kind": error_kind(e), "message": e.to_string(), "fix": fix },
        });
        let _ = writeln!(std::io::stdout(), "{doc}");
    }
    eprintln!("{} {e}", style.bad("error:"));
    if let Some(f) = fix {
        eprintln!("{} {f}", style.warn("fix:"));
    }
    e.exit_code()
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
pub async fn run(args: &ArpProbeArgs, json: bool, color: bool) -> anyhow::Result<u8> {
    let style = Style { color };
    if args.watch {
        return run_watch(args, json, &style).await;
    }
    let opts = ProbeOptions {
        count: args.count,
        interval: args.interval.unwrap_or(Duration::from_millis(100)),
        timeout: args.timeout,
        dup_window: args.dup_window,
    };
    let pb = spinner(!json, format!("probing {} …", args.ip));
    let res = probe::probe(args.ip, args.interface.as_deref(), opts).await;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let report = match res {
        Ok(r) => r,
        Err(e) => return Ok(report_error(args.ip, &e, json, &style)),
    };
    let (info, warnings) = interface_lines(report.ip, report.protocol, &report.interface);
    match render(&report, &info, &warnings, json, &style) {
        // `lbctl arp-probe … | head` closing the pipe is not a failure of the probe.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(exit_for(report.verdict()))
}

fn render(
    report: &ProbeReport,
    info: &str,
    warnings: &[String],
    json: bool,
    style: &Style,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return writeln!(out, "{:#}", report_json(report, warnings));
    }
    writeln!(out, "{}", style.dim(info))?;
    for w in warnings {
        eprintln!("{} {w}", style.warn("warning:"));
    }
    if !report.responders.is_empty() {
        writeln!(out, "{}", report_table(report))?;
    }
    let line = verdict_line(report);
    let line = match report.verdict() {
        Verdict::OneOwner => style.good(&line),
        _ => style.bad(&line),
    };
    let n = report.requests_sent;
    writeln!(
        out,
        "{line} {}",
        style.dim(&format!(
            "({n} request{} in {})",
            if n == 1 { "" } else { "s" },
            fmt_ms(report.elapsed)
        ))
    )
}

fn mac_list(m: &[Mac]) -> String {
    if m.is_empty() {
        "nobody".to_string()
    } else {
        m.iter().map(Mac::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// One human line per watch event.
fn watch_line(e: &WatchEvent, protocol: Protocol, style: &Style) -> String {
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
                (Verdict::OneOwner, None) => style.good(&format!("owner {}", mac_list(owners))),
                (Verdict::OneOwner, Some(p)) => style.good(&format!(
                    "owner changed: {} -> {}",
                    mac_list(p),
                    mac_list(owners)
                )),
                (Verdict::NoAnswer, None) => style.bad("no answer"),
                (Verdict::NoAnswer, Some(p)) => {
                    style.bad(&format!("no answer (was {})", mac_list(p)))
                }
                (Verdict::MultipleOwners, _) => style.bad(&format!(
                    "{} owners — {}: {}",
                    owners.len(),
                    caches(protocol),
                    mac_list(owners)
                )),
            };
            format!(
                "{}  {what} {}",
                rfc3339(*time),
                style.dim(&format!("[{by}]"))
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

/// `--watch`: one line per event; with `-o json` one JSON object per line
/// (schema `lbctl.arp-probe.watch/v1`), each with `"event"`: `started` | `announcement` |
/// `owners`, `"time"` (RFC 3339 UTC), and the fields of [`WatchEvent`].
async fn run_watch(args: &ArpProbeArgs, json: bool, style: &Style) -> anyhow::Result<u8> {
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
        let line = if json {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("schema".into(), JSON_WATCH_SCHEMA.into());
            }
            v.to_string()
        } else {
            watch_line(e, protocol, style)
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) ends the watch quietly instead of panicking in println!.
        match writeln!(out, "{line}").and_then(|_| out.flush()) {
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
        Some(Err(e)) => Ok(report_error(args.ip, &e, json, style)),
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
    fn durations() {
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("").is_err());
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

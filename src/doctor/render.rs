//! Human and machine output of doctor. The JSON/YAML schema is documented in
//! `docs/doctor-json.md`; change both together.

use comfy_table::{Attribute, Cell, Color};
use serde::{Serialize, Serializer};

use super::snapshot::Unread;
use super::{rung_name, Finding, Report, Verdict};
use crate::output::{Render, Style, Tone};

/// Schema version of `-o json|yaml`.
pub const API_VERSION: &str = "lbctl.io/v1";

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✔ pass",
        Verdict::Warn => "! warn",
        Verdict::Fail => "✘ fail",
        Verdict::Skip => "- skip",
    }
}

fn tone(v: Verdict) -> Tone {
    match v {
        Verdict::Pass => Tone::Good,
        Verdict::Warn => Tone::Warn,
        Verdict::Fail => Tone::Bad,
        Verdict::Skip => Tone::Dim,
    }
}

/// The ladder as a table, the fixes of every non-passing check, and the summary line.
pub fn ladder(report: &Report, wide: bool, style: Style) -> String {
    let mut t = style.boxed_table();
    let mut header = vec!["RUNG", "CHECK", "VERDICT", "OBSERVED"];
    if wide {
        header.push("EXPECTED");
    }
    t.set_header(header);
    let first = report.first_failure().map(|f| (f.rung, f.check.clone()));
    for f in &report.findings {
        let is_first = first.as_ref() == Some(&(f.rung, f.check.clone()));
        let rung = format!(
            "{}{} {}",
            if is_first { "▶ " } else { "" },
            f.rung,
            rung_name(f.rung)
        );
        let mut rung_cell = Cell::new(rung);
        let mut check_cell = Cell::new(&f.check);
        if is_first {
            rung_cell = rung_cell.add_attribute(Attribute::Bold).fg(Color::Red);
            check_cell = check_cell.add_attribute(Attribute::Bold);
        }
        let mut row = vec![
            rung_cell,
            check_cell,
            Cell::new(mark(f.verdict)).fg(Style::cell_color(tone(f.verdict))),
            Cell::new(&f.observed),
        ];
        if wide {
            row.push(Cell::new(&f.expected));
        }
        t.add_row(row);
    }
    let mut out = format!("{t}\n");
    let todo: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| {
            matches!(f.verdict, Verdict::Fail | Verdict::Warn | Verdict::Skip) && !f.fix.is_empty()
        })
        .collect();
    for f in todo {
        let title = format!("{} rung {} {}:", mark(f.verdict), f.rung, f.check);
        let title = match f.verdict {
            Verdict::Fail | Verdict::Warn => style.paint(&title, tone(f.verdict)),
            _ => title,
        };
        out.push_str(&format!("\n{title}\n"));
        if !f.expected.is_empty() && !wide {
            out.push_str(&format!(
                "  expected: {}\n",
                indent(&f.expected, "            ")
            ));
        }
        out.push_str(&format!("  fix:\n    {}\n", indent(&f.fix, "    ")));
    }
    let summary = style.paint(&report.summary(), tone(report.result()));
    out.push_str(&format!("\n{summary}\n"));
    for u in &report.unread {
        out.push_str(&format!("note: {}\n  {}\n", u.note(), u.permission()));
    }
    out
}

/// Longest one-line cause before further lines are counted instead of shown.
const CAUSE_MAX: usize = 240;

/// A check's `observed` text on one line, for the summary and `--all`'s table. A first line
/// that ends in `:` only introduces the cause ("no policy selects demo/web:"), so the lines
/// after it are kept, joined with `; `, until [`CAUSE_MAX`]; what does not fit is counted, never
/// cut mid-line. A first line that does not end in `:` is the cause itself (what follows is
/// evidence, shown in the ladder).
pub(crate) fn cause(observed: &str) -> String {
    let mut lines = observed.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return String::new();
    };
    if !first.ends_with(':') {
        return first.to_owned();
    }
    let rest: Vec<&str> = lines.collect();
    let mut out = first.to_owned();
    for (i, l) in rest.iter().enumerate() {
        // The first line of the cause is always kept, however long.
        if i > 0 && out.len() + l.len() + 2 > CAUSE_MAX {
            out.push_str(&format!(" (+{} more)", rest.len() - i));
            break;
        }
        out.push_str(if i == 0 { " " } else { "; " });
        out.push_str(l);
    }
    out
}

fn indent(s: &str, pad: &str) -> String {
    s.lines().collect::<Vec<_>>().join(&format!("\n{pad}"))
}

/// One Service's report as `lbctl doctor` prints it: the ladder, or [`ReportDoc`].
pub struct ReportView<'a> {
    pub report: &'a Report,
    /// The kubeconfig context the report is about.
    pub context: &'a str,
}

impl Serialize for ReportView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        report_doc(self.report, self.context).serialize(s)
    }
}

impl Render for ReportView<'_> {
    fn human(&self, wide: bool, style: Style) -> String {
        ladder(self.report, wide, style)
    }
}

/// `-o json|yaml` for one Service.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDoc<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub context: &'a str,
    pub service: ServiceRef<'a>,
    pub external_ips: &'a [String],
    pub result: Verdict,
    pub first_failing_rung: Option<u8>,
    pub first_failing_check: Option<&'a str>,
    pub summary: String,
    pub findings: Vec<FindingDoc<'a>>,
    /// Optional reads the server refused (see docs/doctor-json.md).
    pub unread: Vec<UnreadDoc<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadDoc<'a> {
    #[serde(flatten)]
    pub unread: &'a Unread,
    /// `could not read X (forbidden): message`.
    pub note: String,
    /// The RBAC permission that would make the read work, and how to check it.
    pub permission: String,
}

impl<'a> UnreadDoc<'a> {
    pub fn from(u: &'a Unread) -> UnreadDoc<'a> {
        UnreadDoc {
            unread: u,
            note: u.note(),
            permission: u.permission(),
        }
    }
}

#[derive(Serialize)]
pub struct ServiceRef<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingDoc<'a> {
    pub rung: u8,
    pub rung_name: &'static str,
    pub check: &'a str,
    pub verdict: Verdict,
    pub observed: &'a str,
    pub expected: &'a str,
    pub fix: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub evidence: &'a [String],
}

pub fn report_doc<'a>(report: &'a Report, context: &'a str) -> ReportDoc<'a> {
    let first = report.first_failure();
    ReportDoc {
        api_version: API_VERSION,
        kind: "DoctorReport",
        context,
        service: ServiceRef {
            namespace: &report.namespace,
            name: &report.name,
        },
        external_ips: &report.external_ips,
        result: report.result(),
        first_failing_rung: first.map(|f| f.rung),
        first_failing_check: first.map(|f| f.check.as_str()),
        summary: report.summary(),
        findings: report
            .findings
            .iter()
            .map(|f| FindingDoc {
                rung: f.rung,
                rung_name: rung_name(f.rung),
                check: &f.check,
                verdict: f.verdict,
                observed: &f.observed,
                expected: &f.expected,
                fix: &f.fix,
                evidence: &f.evidence,
            })
            .collect(),
        unread: report.unread.iter().map(UnreadDoc::from).collect(),
    }
}

/// One row of `doctor --all`.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    pub namespace: String,
    pub name: String,
    pub external_ips: Vec<String>,
    pub result: Verdict,
    pub first_failing_rung: Option<u8>,
    pub first_failing_check: Option<String>,
    pub summary: String,
}

impl SummaryRow {
    pub fn from(report: &Report) -> SummaryRow {
        let first = report.first_failure();
        SummaryRow {
            namespace: report.namespace.clone(),
            name: report.name.clone(),
            external_ips: report.external_ips.clone(),
            result: report.result(),
            first_failing_rung: first.map(|f| f.rung),
            first_failing_check: first.map(|f| f.check.clone()),
            summary: first
                .map(|f| cause(&f.observed))
                .unwrap_or_else(|| report.summary()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryDoc<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub context: &'a str,
    pub items: &'a [SummaryRow],
    pub unread: Vec<UnreadDoc<'a>>,
}

/// `doctor --all` as a table.
pub fn summary_table(rows: &[SummaryRow], wide: bool, style: Style) -> String {
    let mut t = style.boxed_table();
    let mut header = vec![
        "NAMESPACE",
        "NAME",
        "EXTERNAL-IP",
        "RESULT",
        "FIRST FAILING RUNG",
        "SUMMARY",
    ];
    if wide {
        header.insert(5, "CHECK");
    }
    t.set_header(header);
    for r in rows {
        let ip = if r.external_ips.is_empty() {
            "<pending>".to_owned()
        } else {
            r.external_ips.join(",")
        };
        let rung = r
            .first_failing_rung
            .map_or("-".to_owned(), |n| format!("{n} {}", rung_name(n)));
        let mut row = vec![
            Cell::new(&r.namespace),
            Cell::new(&r.name),
            Cell::new(ip),
            Cell::new(mark(r.result)).fg(Style::cell_color(tone(r.result))),
            Cell::new(rung),
            Cell::new(&r.summary),
        ];
        if wide {
            row.insert(
                5,
                Cell::new(r.first_failing_check.as_deref().unwrap_or("-")),
            );
        }
        t.add_row(row);
    }
    let fails = rows.iter().filter(|r| r.result == Verdict::Fail).count();
    format!(
        "{t}\n{} LoadBalancer Service(s), {} failing\n",
        rows.len(),
        fails
    )
}

impl Render for SummaryDoc<'_> {
    /// The table, then a note per optional read the server refused.
    fn human(&self, wide: bool, style: Style) -> String {
        let mut out = summary_table(self.items, wide, style);
        for u in &self.unread {
            out.push_str(&format!("note: {}\n  {}\n", u.note, u.permission));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::cause;

    #[test]
    fn the_cause_survives_a_header_line() {
        let obs = "no policy selects demo/demo-web:\npolicy a: serviceSelector {\"matchLabels\":{\"x\":\"y\"}} does not match\nService labels (with Cilium's meta labels): app=web";
        assert_eq!(
            cause(obs),
            "no policy selects demo/demo-web: policy a: serviceSelector {\"matchLabels\":{\"x\":\"y\"}} does not match; Service labels (with Cilium's meta labels): app=web"
        );
        // A complete first line is the cause; what follows is evidence.
        assert_eq!(
            cause("Cilium in kube-system\nevidence:\n  x"),
            "Cilium in kube-system"
        );
        // Too long: whole lines are kept, the rest counted.
        let long = format!("x:\n{}\n{}\n{}", "a".repeat(200), "b".repeat(100), "c");
        assert_eq!(cause(&long), format!("x: {} (+2 more)", "a".repeat(200)));
    }
}

//! The one output layer: every command that prints a result hands a [`Render`] value to
//! [`Printer::emit`], which picks the form `-o` asked for (table, wide, JSON, YAML), paints it
//! with the colour decided once at start-up, and writes it to stdout. Also the conventions shared
//! by every command: colour choice, log filters, exit codes.

use std::io::{IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use owo_colors::OwoColorize;
use serde::Serialize;

mod human;

pub(crate) use human::human_duration;

/// `-o/--output`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

/// The log filter for `-v` repeated `verbose` times. The client stack's own lines (kube-rs'
/// "failed with error client error (Connect)", hyper, rustls) stay out until `-vv`: lbctl
/// reports the same failure once, in its own words, with the exit code that goes with it.
pub fn log_filter(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn,kube_client=off,kube_runtime=error,hyper=off,hyper_util=off,rustls=off,tower=off",
        1 => "info,kube_client=warn,kube_runtime=warn,hyper=warn,hyper_util=warn,rustls=warn,tower=warn",
        2 => "debug",
        _ => "trace",
    }
}

/// `--color`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves the choice against `NO_COLOR` and whether stdout is a terminal.
    pub fn enabled(self) -> bool {
        self.enabled_for(&std::io::stdout())
    }

    /// As [`ColorChoice::enabled`], for another stream (log lines go to stderr, which may be a
    /// terminal when stdout is not, or the other way round).
    pub fn enabled_for(self, stream: &impl IsTerminal) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stream.is_terminal()
            }
        }
    }
}

/// Process exit codes, the same for every command (documented in the README: scripts branch on
/// them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// All checks pass / the command succeeded.
    Ok = 0,
    /// A problem was found (failing rung, duplicate or missing ARP responder).
    Problem = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// The cluster or the network cannot be reached (permission, API down).
    Unreachable = 3,
}

/// An error that already knows which exit code it deserves.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CodedError {
    pub code: Exit,
    pub message: String,
}

impl CodedError {
    pub fn usage(message: impl Into<String>) -> Self {
        CodedError {
            code: Exit::Usage,
            message: message.into(),
        }
    }
    pub fn unreachable(message: impl Into<String>) -> Self {
        CodedError {
            code: Exit::Unreachable,
            message: message.into(),
        }
    }
}

/// How human output is painted, decided once from `--color` (see [`ColorChoice::enabled`]) and
/// handed to every printer, so no printer asks the terminal or the environment again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

/// What a piece of text says, which picks its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Passing, one owner.
    Good,
    /// Failing, an error.
    Bad,
    /// A warning.
    Warn,
    /// Context the eye may skip.
    Dim,
}

impl Style {
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    /// `text` in the colour of `tone`, or as it is without colour.
    pub(crate) fn paint(self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_owned();
        }
        match tone {
            Tone::Good => text.green().bold().to_string(),
            Tone::Bad => text.red().bold().to_string(),
            Tone::Warn => text.yellow().to_string(),
            Tone::Dim => text.dimmed().to_string(),
        }
    }

    /// The colour of a table cell in `tone`.
    pub(crate) fn cell_color(tone: Tone) -> comfy_table::Color {
        match tone {
            Tone::Good => comfy_table::Color::Green,
            Tone::Bad => comfy_table::Color::Red,
            Tone::Warn => comfy_table::Color::Yellow,
            Tone::Dim => comfy_table::Color::DarkGrey,
        }
    }

    /// A ruled table (doctor's ladder, the probe's responders) that wraps to the terminal's
    /// width; its cell colours follow this style, whatever stdout is.
    pub(crate) fn boxed_table(self) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if self.color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        t
    }

    /// A kubectl-like table: upper-case header, columns apart, no rules, never wrapped (so
    /// `awk '{print $1}'` and `grep` work on it).
    pub(crate) fn plain_table(self) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        t.force_no_tty();
        t
    }
}

/// A command's result: JSON and YAML come from its `Serialize`, the table from here.
pub(crate) trait Render: Serialize {
    /// The human form, ending in a newline. `wide` (`-o wide`) shows every column of the
    /// table and more, never fewer.
    fn human(&self, wide: bool, style: Style) -> String;
}

/// Stdout's reader went away (EPIPE): not an error worth a message, like ripgrep. The binary
/// exits 0 on it.
#[derive(Debug, thiserror::Error)]
#[error("stdout closed")]
pub struct StdoutClosed;

/// Writes `text` to stdout and flushes; a closed pipe becomes [`StdoutClosed`].
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        r => Ok(r?),
    }
}

/// Serialises a value as YAML for `-o yaml`.
pub(crate) fn to_yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(value)?)
}

/// `-o` and the colour, fixed for the whole run: what every command prints through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Printer {
    pub format: OutputFormat,
    pub style: Style,
}

impl Printer {
    pub fn new(format: OutputFormat, color: bool) -> Printer {
        Printer {
            format,
            style: Style::new(color),
        }
    }

    /// Whether the output is for a program (JSON, YAML) rather than a person.
    pub(crate) fn is_machine(&self) -> bool {
        matches!(self.format, OutputFormat::Json | OutputFormat::Yaml)
    }

    /// `value` in the chosen form, as [`Printer::emit`] writes it.
    pub(crate) fn render<T: Render>(&self, value: &T) -> anyhow::Result<String> {
        Ok(match self.format {
            OutputFormat::Table => value.human(false, self.style),
            OutputFormat::Wide => value.human(true, self.style),
            OutputFormat::Json => serde_json::to_string_pretty(value)? + "\n",
            OutputFormat::Yaml => to_yaml(value)?,
        })
    }

    /// Writes `value` to stdout in the chosen form.
    pub(crate) fn emit<T: Render>(&self, value: &T) -> anyhow::Result<()> {
        write_stdout(&self.render(value)?)
    }

    /// One item of a stream (`arp-probe --watch`): JSON is one line per item (JSON Lines), YAML
    /// one document per item (`---` first, as `kubectl get -w -o yaml`), the human form as it is.
    pub(crate) fn render_item<T: Render>(&self, value: &T) -> anyhow::Result<String> {
        Ok(match self.format {
            OutputFormat::Json => serde_json::to_string(value)? + "\n",
            OutputFormat::Yaml => format!("---\n{}", to_yaml(value)?),
            _ => self.render(value)?,
        })
    }

    /// Writes one item of a stream (see [`Printer::render_item`]).
    pub(crate) fn emit_item<T: Render>(&self, value: &T) -> anyhow::Result<()> {
        write_stdout(&self.render_item(value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_parse_and_the_default_silences_the_client_stack() {
        for v in 0..4 {
            tracing_subscriber::EnvFilter::try_new(log_filter(v)).unwrap();
        }
        assert!(log_filter(0).contains("kube_client=off"));
    }

    #[derive(Serialize)]
    struct Sample {
        name: &'static str,
        count: u32,
    }

    impl Render for Sample {
        fn human(&self, wide: bool, style: Style) -> String {
            let mut t = style.plain_table();
            let mut header = vec!["NAME"];
            let mut row = vec![style.paint(self.name, Tone::Good)];
            if wide {
                header.push("COUNT");
                row.push(self.count.to_string());
            }
            t.set_header(header).add_row(row);
            format!("{t}\n")
        }
    }

    const SAMPLE: Sample = Sample {
        name: "lan-vips",
        count: 3,
    };

    fn render(format: OutputFormat, color: bool) -> String {
        Printer::new(format, color).render(&SAMPLE).unwrap()
    }

    #[test]
    fn each_format_is_what_it_says() {
        let json: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Json, true)).unwrap();
        assert_eq!(json, serde_json::json!({"name": "lan-vips", "count": 3}));
        let yaml: serde_json::Value =
            serde_saphyr::from_str(&render(OutputFormat::Yaml, true)).unwrap();
        assert_eq!(yaml, json);
        let table = render(OutputFormat::Table, false);
        assert!(
            table.contains("NAME") && !table.contains("COUNT"),
            "{table}"
        );
        assert!(render(OutputFormat::Wide, false).contains("COUNT"));
        assert!(serde_json::from_str::<serde_json::Value>(&table).is_err());
        for f in [OutputFormat::Table, OutputFormat::Json, OutputFormat::Yaml] {
            assert!(render(f, false).ends_with('\n'), "{f:?}");
        }
    }

    #[test]
    fn colour_is_the_printers_decision_and_never_reaches_machine_output() {
        assert!(render(OutputFormat::Table, true).contains('\u{1b}'));
        assert!(!render(OutputFormat::Table, false).contains('\u{1b}'));
        assert!(!render(OutputFormat::Json, true).contains('\u{1b}'));
        assert!(!render(OutputFormat::Yaml, true).contains('\u{1b}'));
        let ruled = Style::new(true)
            .boxed_table()
            .add_row(vec![
                comfy_table::Cell::new("x").fg(Style::cell_color(Tone::Bad))
            ])
            .to_string();
        assert!(ruled.contains('\u{1b}'), "{ruled}");
        let plain = Style::new(false)
            .boxed_table()
            .add_row(vec![
                comfy_table::Cell::new("x").fg(Style::cell_color(Tone::Bad))
            ])
            .to_string();
        assert!(!plain.contains('\u{1b}'), "{plain}");
    }

    #[test]
    fn stream_items_are_json_lines_and_yaml_documents() {
        let json = Printer::new(OutputFormat::Json, false)
            .render_item(&SAMPLE)
            .unwrap();
        assert_eq!(json.lines().count(), 1, "{json}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
        let yaml = Printer::new(OutputFormat::Yaml, false)
            .render_item(&SAMPLE)
            .unwrap();
        let two = yaml.repeat(2);
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&two).unwrap();
        assert_eq!(docs.len(), 2, "{two}");
    }
}

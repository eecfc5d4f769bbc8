//! Output conventions shared by every command: formats, colour, exit codes.

use std::io::IsTerminal;

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

/// Process exit codes, the same for every command (DESIGN §2).
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

/// Serialises a value as YAML for `-o yaml`.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(value)?)
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
}

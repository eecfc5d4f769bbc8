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
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
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

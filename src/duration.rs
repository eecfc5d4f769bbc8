//! The one grammar of every duration flag (`--request-timeout`, `serve --lease-duration`,
//! `arp-probe --timeout`, …): jiff's friendly format (`1h`, `1m30s`, `500ms`, `2.5s`,
//! `1h 30m`, `10:30:00`) or bare seconds (`30`, `0.5`).

use std::time::Duration;

use jiff::fmt::friendly::SpanParser;

/// The longest duration a flag accepts. Deadlines are `Instant + duration`, which panics on
/// overflow; a year is far beyond any timeout or lease and far below that.
pub(crate) const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

const EXAMPLES: &str = "e.g. 1h, 1m30s, 500ms, 2.5s, or bare seconds";

/// Why a flag's value is not a duration; clap prints it after the flag's name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("{text:?} is not a duration ({EXAMPLES}): {reason}")]
    Invalid { text: String, reason: String },
    #[error("{0:?} is negative; a duration is 0 or more")]
    Negative(String),
    #[error("{0:?} is longer than the longest duration accepted (8760h, one year)")]
    TooLong(String),
}

/// Parses one duration flag's value (see the module documentation for the grammar).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    static PARSER: SpanParser = SpanParser::new();
    let t = text.trim();
    let bare = !t.is_empty()
        && t.trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    let parsed = if bare {
        PARSER.parse_duration(format!("{t}s"))
    } else {
        PARSER.parse_duration(t)
    };
    let signed = parsed.map_err(|e| DurationError::Invalid {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    if signed.is_negative() {
        return Err(DurationError::Negative(text.to_owned()));
    }
    match Duration::try_from(signed) {
        Ok(d) if d <= MAX => Ok(d),
        _ => Err(DurationError::TooLong(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::fmt::friendly::{Designator, Spacing, SpanPrinter};
    use proptest::prelude::*;

    #[test]
    fn the_grammar() {
        let ok = |t: &str| parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1m"), Duration::from_secs(60));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2.5s"), Duration::from_millis(2500));
        assert_eq!(ok("100us"), Duration::from_micros(100));
        assert_eq!(ok("1h 30m"), Duration::from_secs(5400));
        assert_eq!(ok("15"), Duration::from_secs(15));
        assert_eq!(ok("0.25"), Duration::from_millis(250));
        assert_eq!(ok(" 2s "), Duration::from_secs(2));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("8760h"), MAX);
    }

    #[test]
    fn negative_overflowing_and_garbage_values_say_why() {
        for t in ["-1s", "-5", "1s ago"] {
            assert_eq!(parse(t), Err(DurationError::Negative(t.into())), "{t}");
        }
        for t in ["8761h", "366d", "99999999999999999999s"] {
            let e = parse(t).unwrap_err();
            assert!(
                matches!(e, DurationError::TooLong(_) | DurationError::Invalid { .. }),
                "{t}: {e}"
            );
        }
        assert_eq!(parse("8761h"), Err(DurationError::TooLong("8761h".into())));
        for t in ["", "abc", "1x", "s", "1.2.3s", "--1s"] {
            let e = parse(t).unwrap_err().to_string();
            assert!(
                e.contains("is not a duration") && e.contains("1m30s"),
                "{t}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_gives_the_duration_back(nanos in 0..=MAX.as_nanos() as u64) {
            let d = Duration::from_nanos(nanos);
            for printer in [
                SpanPrinter::new(),
                SpanPrinter::new().designator(Designator::Compact).spacing(Spacing::None),
                SpanPrinter::new().designator(Designator::Verbose),
                SpanPrinter::new().hours_minutes_seconds(true),
            ] {
                let text = printer.unsigned_duration_to_string(&d);
                prop_assert_eq!(parse(&text), Ok(d), "{}", text);
            }
        }

        #[test]
        fn bare_seconds_are_seconds(secs in 0..=MAX.as_secs()) {
            prop_assert_eq!(parse(&secs.to_string()), Ok(Duration::from_secs(secs)));
        }
    }
}

//! A strict reader of the Prometheus text format, for tests: every line must be a `# HELP`, a
//! `# TYPE` or a sample of a declared family, label values are unescaped as Prometheus does, and
//! each value must parse. Shared by the tests of every engine that exposes metrics.
use std::collections::BTreeMap;

pub(crate) type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
pub(crate) struct Exposition {
    /// Family name → type.
    pub types: BTreeMap<String, String>,
    /// (sample name, labels, value).
    pub samples: Vec<(String, Labels, f64)>,
}

impl Exposition {
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && l.iter().zip(labels).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
            })
            .map(|s| s.2)
    }
}

fn is_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The family a sample belongs to: itself, or a histogram's for its series.
fn family<'a>(types: &BTreeMap<String, String>, sample: &'a str) -> Option<&'a str> {
    if types.contains_key(sample) {
        return Some(sample);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = sample.strip_suffix(suffix)?;
        (types.get(base)? == "histogram").then_some(base)
    })
}

fn labels(text: &str) -> Result<(Labels, &str), String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let (key, after) = rest
            .split_once("=\"")
            .ok_or(format!("no label in {text}"))?;
        if !is_name(key) {
            return Err(format!("bad label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => return Err(format!("bad escape {other:?} in {text}")),
                },
                Some((_, '\n')) => return Err(format!("raw newline in {text}")),
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated value in {text}")),
            }
        };
        out.push((key.to_owned(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut e = Exposition::default();
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let name = help.split(' ').next().unwrap_or_default();
            if !is_name(name) {
                return Err(format!("bad HELP line {line:?}"));
            }
        } else if let Some(ty) = line.strip_prefix("# TYPE ") {
            let (name, kind) = ty.split_once(' ').ok_or(format!("bad TYPE {line:?}"))?;
            if !is_name(name)
                || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
            {
                return Err(format!("bad TYPE line {line:?}"));
            }
            if e.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(format!("family {name} declared twice"));
            }
        } else {
            let end = line
                .find(['{', ' '])
                .ok_or(format!("bad sample {line:?}"))?;
            let name = &line[..end];
            if family(&e.types, name).is_none() {
                return Err(format!("sample {name} of no declared family"));
            }
            let (labels, rest) = match line[end..].strip_prefix('{') {
                Some(after) => labels(after)?,
                None => (Vec::new(), &line[end..]),
            };
            let value = rest
                .strip_prefix(' ')
                .ok_or(format!("no value: {line:?}"))?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| format!("bad value {line:?}"))?,
            };
            e.samples.push((name.to_owned(), labels, value));
        }
    }
    Ok(e)
}

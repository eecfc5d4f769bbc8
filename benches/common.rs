//! Helpers the network benchmarks share (included with `#[path]`; not a bench itself).

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// RTTs (ms) from iputils arping lines like `Unicast reply from 10.77.0.2 [..]  0.612ms`.
pub fn arping_rtts(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|w| w.strip_suffix("ms"))
        .filter_map(|n| n.parse().ok())
        .collect()
}

//! Compare mode: the same scenario against two servers, alternately A, B,
//! A, B, ... so neither gets the quieter moments; each figure's median and
//! the ratio B/A.

use crate::report::Report;

/// Reads one figure from a report.
type Figure = fn(&Report) -> f64;

/// The figures compared, by name.
const FIGURES: [(&str, Figure); 7] = [
    ("T (req/s)", |r| r.throughput),
    ("TR mean (req/s)", |r| r.tr.mean),
    ("ART (ms)", |r| r.art_ms),
    ("L = 1/T (ms)", |r| r.l_ms),
    ("p50 (ms)", |r| r.latency.p50_ms),
    ("p99 (ms)", |r| r.latency.p99_ms),
    ("p99.9 (ms)", |r| r.latency.p999_ms),
];

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Prints the comparison table; `a` and `b` hold one report per round.
pub fn print(a: &[Report], b: &[Report]) {
    let (ua, ub) = (a.first().map(|r| r.url.as_str()).unwrap_or("A"), b.first().map(|r| r.url.as_str()).unwrap_or("B"));
    println!("\ncompare ({} rounds each, medians)\n  A = {ua}\n  B = {ub}", a.len());
    println!("  {:<18} {:>14} {:>14} {:>9}", "figure", "A", "B", "B/A");
    for (name, get) in FIGURES {
        let ma = median(a.iter().map(get).collect());
        let mb = median(b.iter().map(get).collect());
        let ratio = if ma > 0.0 { mb / ma } else { 0.0 };
        println!("  {name:<18} {ma:>14.3} {mb:>14.3} {ratio:>8.2}x");
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}

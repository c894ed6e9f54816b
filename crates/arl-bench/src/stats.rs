//! Samples of one measure and how a measure grows with the history.

use serde::Serialize;

/// Repeated observations of one measure, in its unit (lower is better).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    pub values: Vec<f64>,
}

/// Median, min and max of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub repeats: u64,
}

impl Samples {
    pub fn one(value: f64) -> Samples {
        Samples {
            values: vec![value],
        }
    }

    pub fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    /// `None` when there are no samples.
    pub fn summary(&self) -> Option<Summary> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            repeats: n as u64,
        })
    }
}

/// How a figure grows from `n0` events to `n1` events, from the log-log slope compared
/// with the slope that pure log growth (`ln n`) would have over the same range.
pub fn growth(n0: u64, v0: f64, n1: u64, v1: f64) -> &'static str {
    if n0 == n1 || v0 <= 0.0 || v1 <= 0.0 {
        return "-";
    }
    let slope = (v1 / v0).ln() / (n1 as f64 / n0 as f64).ln();
    let log_ratio = (n1 as f64).ln() / (n0 as f64).ln();
    let log_slope = log_ratio.ln() / (n1 as f64 / n0 as f64).ln();
    match slope {
        s if s < log_slope / 2.0 => "constant",
        s if s < log_slope * 2.0 + 0.05 => "log",
        s if s < 0.8 => "sub-linear",
        s if s < 1.25 => "linear",
        _ => "super-linear",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_samples() {
        let s = Samples {
            values: vec![3.0, 1.0, 2.0, 10.0],
        };
        let sum = s.summary().unwrap();
        assert_eq!(
            (sum.median, sum.min, sum.max, sum.repeats),
            (2.5, 1.0, 10.0, 4)
        );
        assert!(Samples::default().summary().is_none());
    }

    #[test]
    fn growth_classes() {
        assert_eq!(growth(100_000, 1.0, 1_000_000, 1.05), "constant");
        assert_eq!(growth(100_000, 1.0, 1_000_000, 1.2), "log");
        assert_eq!(growth(100_000, 1.0, 1_000_000, 10.0), "linear");
        assert_eq!(growth(100_000, 1.0, 1_000_000, 3.0), "sub-linear");
        assert_eq!(growth(100_000, 1.0, 1_000_000, 100.0), "super-linear");
    }
}

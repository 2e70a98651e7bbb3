//! Summaries of repeated measurements: median, min and max.

/// The median, min and max of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

impl Stat {
    /// Summarizes `samples` (non-finite values are dropped). `None` if nothing is left.
    pub fn of(samples: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
        Some(Stat { median, min: v[0], max: v[v.len() - 1], samples: v.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_sets() {
        type Case<'a> = (&'a [f64], Option<(f64, f64, f64)>);
        let cases: &[Case<'_>] = &[
            (&[3.0, 1.0, 2.0], Some((2.0, 1.0, 3.0))),
            (&[4.0, 1.0, 3.0, 2.0], Some((2.5, 1.0, 4.0))),
            (&[5.0], Some((5.0, 5.0, 5.0))),
            (&[f64::NAN, 7.0], Some((7.0, 7.0, 7.0))),
            (&[], None),
        ];
        for (samples, want) in cases {
            let got = Stat::of(samples).map(|s| (s.median, s.min, s.max));
            assert_eq!(got, *want, "{samples:?}");
        }
    }
}

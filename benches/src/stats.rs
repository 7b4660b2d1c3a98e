//! Median and paired-ratio helpers.

/// The median of `xs` (the mean of the two middle values for an even count); `NaN` if empty.
///
/// ```
/// assert_eq!(taskscope_bench::stats::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(taskscope_bench::stats::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// The ratio `ours[i] / base[i]` of each pair (pairs are measurements of the same repetition).
///
/// # Panics
/// If the slices differ in length.
pub fn paired_ratios(ours: &[f64], base: &[f64]) -> Vec<f64> {
    assert_eq!(ours.len(), base.len(), "paired_ratios: one ratio per repetition");
    ours.iter().zip(base).map(|(o, b)| o / b).collect()
}

/// The summary of paired samples: (median of ours, median of the baseline, median of the
/// paired ratios).
pub fn summarize(ours: &[f64], base: &[f64]) -> (f64, f64, f64) {
    (median(ours), median(base), median(&paired_ratios(ours, base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(&[1.0, 2.0, 10.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn summary_uses_the_median_of_paired_ratios_not_the_ratio_of_medians() {
        let ours = [100.0, 200.0, 300.0];
        let base = [100.0, 100.0, 1000.0];
        let (o, b, r) = summarize(&ours, &base);
        assert_eq!((o, b), (200.0, 100.0));
        // Ratios 1.0, 2.0, 0.3: the median is 1.0, not 200 / 100.
        assert_eq!(r, 1.0);
    }

    #[test]
    #[should_panic(expected = "one ratio per repetition")]
    fn unpaired_samples_are_refused() {
        paired_ratios(&[1.0], &[1.0, 2.0]);
    }
}

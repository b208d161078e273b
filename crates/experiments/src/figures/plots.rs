//! What the figures' layouts share, drawn with [`crate::plot`]: the palette and the series
//! builders. Each figure's layout (which curves, scales and legend corners) is in its module.

use crate::plot::{Mark, RGBColor, Series};

pub(super) const BLUE: RGBColor = RGBColor(31, 119, 180);
pub(super) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(super) const GREEN: RGBColor = RGBColor(44, 160, 44);
pub(super) const BLACK: RGBColor = RGBColor(0, 0, 0);
/// A dark blue that stands out above many faint [`BLUE`] traces (ensemble means).
pub(super) const NAVY: RGBColor = RGBColor(8, 48, 107);
pub(super) const GREY: RGBColor = RGBColor(120, 120, 120);
pub(super) const RED: RGBColor = RGBColor(214, 39, 40);
pub(super) const PALETTE: [RGBColor; 5] = [BLUE, ORANGE, GREEN, RED, RGBColor(148, 103, 189)];

/// An opaque labelled series.
pub(super) fn line(label: &str, x: &[f64], y: &[f64], color: RGBColor, mark: Mark) -> Series {
    Series::line(Some(label.into()), x, y, color, 1.0).mark(mark)
}

/// One faint line per network (more networks, fainter lines), the first one labelled.
pub(super) fn networks(
    label: &str,
    x: &[f64],
    ys: &[Vec<f64>],
    color: RGBColor,
    max: f64,
) -> Vec<Series> {
    let alpha = (3.0 / ys.len().max(1) as f64).clamp(0.04, max);
    let line = |(k, y): (usize, &Vec<f64>)| {
        Series::line((k == 0).then(|| label.into()), x, y, color, alpha)
    };
    ys.iter().enumerate().map(line).collect()
}

//! Figures with panels, drawn by plotters to PNG and SVG with a bundled font (DejaVu Sans), so
//! rendering needs no system fonts.
//!
//! A [`Figure`] is a grid of [`Panel`]s; a panel holds filled [`Band`]s (e.g. GP mean ± 2 std) and
//! [`Series`] drawn as lines (solid or dashed), crosses or dots. Axes are linear, log10 or asinh
//! (`y' = asinh(y / w)`: linear near 0, logarithmic far out, as in the paper's Fig. 1); ticks of
//! non-linear axes are placed at round values (0, ±10^k, then 2·10^k and 5·10^k when there is room)
//! and labelled with those values. Non-finite points are skipped (a line is broken there).
//!
//! One generic drawing routine serves both backends. All text is drawn by this module: in PNGs
//! glyph by glyph, placed with the font's own metrics, because plotters' `ab_glyph` rasteriser
//! drops each glyph's left side bearing (so "t = 0" would come out as "t= 0"); in SVGs as whole
//! `<text>` elements.

use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

use ab_glyph::{Font, FontRef};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform};
use thiserror::Error;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bundled file is a valid TrueType font; a failure would only lose text.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// Font sizes (plotters units: the font's ascent + descent in pixels).
const TITLE_PX: f64 = 20.0;
const FIG_TITLE_PX: f64 = 22.0;
const LABEL_PX: f64 = 16.0;
const TICK_PX: f64 = 13.0;
const LEGEND_PX: f64 = 13.0;
/// Tick mark length.
const TICK_LEN: i32 = 5;
/// Height of the figure title strip.
const FIG_TITLE_H: u32 = 40;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    /// A polyline of the given stroke width, optionally dashed.
    Line {
        /// Stroke width in pixels.
        width: u32,
        /// Dashed instead of solid.
        dashed: bool,
    },
    /// A × at every point.
    Crosses {
        /// Half-size in pixels.
        size: u32,
    },
    /// A filled dot at every point.
    Dots {
        /// Radius in pixels.
        size: u32,
    },
}

/// A set of points drawn with one colour and mark.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry (none: not in the legend).
    pub label: Option<String>,
    /// x values.
    pub x: Vec<f64>,
    /// y values (same length as `x`).
    pub y: Vec<f64>,
    /// Colour (RGB).
    pub color: (u8, u8, u8),
    /// Opacity in [0, 1].
    pub alpha: f64,
    /// How to draw it.
    pub mark: Mark,
}

impl Series {
    /// A polyline.
    pub fn line(
        label: Option<String>,
        x: &[f64],
        y: &[f64],
        color: (u8, u8, u8),
        alpha: f64,
        width: u32,
        dashed: bool,
    ) -> Self {
        Series {
            label,
            x: x.to_vec(),
            y: y.to_vec(),
            color,
            alpha,
            mark: Mark::Line { width, dashed },
        }
    }

    /// Opaque crosses (e.g. training points).
    pub fn crosses(label: &str, x: &[f64], y: &[f64], color: (u8, u8, u8), size: u32) -> Self {
        Series {
            label: Some(label.to_string()),
            x: x.to_vec(),
            y: y.to_vec(),
            color,
            alpha: 1.0,
            mark: Mark::Crosses { size },
        }
    }

    /// Filled dots of radius `size`.
    pub fn dots(
        label: Option<String>,
        x: &[f64],
        y: &[f64],
        color: (u8, u8, u8),
        alpha: f64,
        size: u32,
    ) -> Self {
        Series {
            label,
            x: x.to_vec(),
            y: y.to_vec(),
            color,
            alpha,
            mark: Mark::Dots { size },
        }
    }
}

/// A filled area between two curves.
#[derive(Clone, Debug)]
pub struct Band {
    /// Legend entry.
    pub label: Option<String>,
    /// x values.
    pub x: Vec<f64>,
    /// Lower curve.
    pub lower: Vec<f64>,
    /// Upper curve.
    pub upper: Vec<f64>,
    /// Colour (RGB).
    pub color: (u8, u8, u8),
    /// Opacity in [0, 1].
    pub alpha: f64,
}

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// log10 (data must be positive).
    Log10,
    /// asinh(v / linear_width): linear for |v| ≪ w, logarithmic for |v| ≫ w.
    Asinh {
        /// The width w of the linear region (positive).
        linear_width: f64,
    },
}

/// One chart.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x scale.
    pub x_scale: Scale,
    /// y scale.
    pub y_scale: Scale,
    /// Fixed x range (data units), or automatic.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range (data units), or automatic.
    pub y_range: Option<(f64, f64)>,
    /// Filled bands, drawn first.
    pub bands: Vec<Band>,
    /// Series, drawn in order.
    pub series: Vec<Series>,
    /// Draw a legend of the labelled bands and series.
    pub legend: bool,
}

impl Panel {
    /// An empty panel with linear axes, automatic ranges and no legend.
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            x_range: None,
            y_range: None,
            bands: Vec::new(),
            series: Vec::new(),
            legend: false,
        }
    }
}

/// A grid of panels with an optional overall title.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Title above all panels.
    pub title: Option<String>,
    /// Rows of panels.
    pub rows: usize,
    /// Columns of panels.
    pub cols: usize,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
    /// Panels, row-major.
    pub panels: Vec<Panel>,
}

/// Why a figure could not be drawn.
#[derive(Debug, Error)]
pub enum PlotError {
    /// No panels, or a zero-sized grid.
    #[error("the figure has no panels")]
    Empty,
    /// More panels than grid cells.
    #[error("{panels} panels do not fit a {rows}x{cols} grid")]
    TooManyPanels {
        /// Panels given.
        panels: usize,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// A series or band with mismatched lengths.
    #[error("panel `{panel}`: `{what}` has {x} x values but {y} y values")]
    Length {
        /// Panel title.
        panel: String,
        /// Series label (or `unlabelled`).
        what: String,
        /// x count.
        x: usize,
        /// y count.
        y: usize,
    },
    /// Nothing finite to draw in a panel.
    #[error("panel `{0}` has no finite point to draw")]
    NoData(String),
    /// Non-positive data on a log axis.
    #[error("panel `{panel}`: log axis, but {axis} has the non-positive value {value}")]
    NonPositive {
        /// Panel title.
        panel: String,
        /// `x` or `y`.
        axis: &'static str,
        /// The value.
        value: f64,
    },
    /// A fixed range that is empty, not finite, or not positive on a log axis; or an asinh
    /// scale whose linear width is not positive.
    #[error("panel `{panel}`: unusable {axis} range [{lo}, {hi}] for its scale")]
    BadRange {
        /// Panel title.
        panel: String,
        /// `x` or `y`.
        axis: &'static str,
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// The backend failed (e.g. the file could not be written).
    #[error("{path}: {reason}")]
    Draw {
        /// Output file.
        path: String,
        /// What failed.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Font metrics (advance widths and left side bearings from the bundled TrueType file)
// ---------------------------------------------------------------------------------------------

/// Glyph metrics of the bundled font (ab_glyph, the rasterizer plotters itself uses).
struct Metrics {
    font: FontRef<'static>,
    /// Ascent − descent in font units: ab_glyph scales a font of "size" s by s / height.
    height: f64,
}

impl Metrics {
    fn parse(data: &'static [u8]) -> Option<Metrics> {
        let font = FontRef::try_from_slice(data).ok()?;
        let height = (font.ascent_unscaled() - font.descent_unscaled()) as f64;
        (height > 0.0).then_some(Metrics { font, height })
    }

    /// The glyph of `c`, if the font has one.
    fn glyph(&self, c: char) -> Option<u16> {
        let id = self.font.glyph_id(c);
        (id.0 != 0).then_some(id.0)
    }

    /// (advance, left side bearing) in pixels at plotters font size `size`.
    fn char_px(&self, c: char, size: f64) -> (f64, f64) {
        let s = size / self.height;
        match self.glyph(c) {
            Some(_) => {
                let id = self.font.glyph_id(c);
                (
                    self.font.h_advance_unscaled(id) as f64 * s,
                    self.font.h_side_bearing_unscaled(id) as f64 * s,
                )
            }
            None => (0.6 * size, 0.0),
        }
    }
}

fn metrics() -> Option<&'static Metrics> {
    static M: OnceLock<Option<Metrics>> = OnceLock::new();
    M.get_or_init(|| Metrics::parse(FONT)).as_ref()
}

/// Width of `text` in pixels at plotters font size `size` (the PNG rendering; SVG viewers draw
/// the same font about 6% smaller).
fn text_width(text: &str, size: f64) -> f64 {
    match metrics() {
        Some(m) => text.chars().map(|c| m.char_px(c, size).0).sum(),
        None => 0.6 * size * text.chars().count() as f64,
    }
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks
// ---------------------------------------------------------------------------------------------

impl Scale {
    fn forward(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log10 => v.log10(),
            Scale::Asinh { linear_width } => (v / linear_width).asinh(),
        }
    }

    fn inverse(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log10 => 10f64.powf(t),
            Scale::Asinh { linear_width } => t.sinh() * linear_width,
        }
    }

    /// At most `max_n` tick positions (transformed units) in the transformed range [lo, hi].
    fn ticks(self, lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
        let max_n = max_n.max(2);
        match self {
            Scale::Linear => linear_ticks(lo, hi, max_n),
            Scale::Log10 => {
                let decades: Vec<i64> = (lo.ceil() as i64..=hi.floor() as i64).collect();
                let stride = decades.len().div_ceil(max_n).max(1) as i64;
                let mut t: Vec<f64> = decades
                    .iter()
                    .filter(|k| k.rem_euclid(stride) == 0)
                    .map(|k| *k as f64)
                    .collect();
                if t.len() < 3 {
                    let with_25: Vec<f64> = (lo.floor() as i64..=hi.ceil() as i64)
                        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(k as i32)).log10()))
                        .filter(|v| *v >= lo && *v <= hi)
                        .collect();
                    if with_25.len() <= max_n && with_25.len() > t.len() {
                        t = with_25;
                    }
                }
                if t.len() < 3 {
                    // about a decade or less: round values in data units
                    let plain: Vec<f64> =
                        linear_ticks(self.inverse(lo), self.inverse(hi), max_n.min(6))
                            .into_iter()
                            .filter(|v| *v > 0.0)
                            .map(|v| self.forward(v))
                            .collect();
                    if plain.len() > t.len() {
                        t = plain;
                    }
                }
                t
            }
            Scale::Asinh { .. } => {
                let gap = (hi - lo) / max_n as f64;
                let top = self.inverse(lo).abs().max(self.inverse(hi).abs());
                let kmax = top.log10().ceil() as i32;
                let mut kept: Vec<f64> = Vec::new();
                let offer = |v: f64, kept: &mut Vec<f64>| {
                    let t = self.forward(v);
                    if t >= lo - 1e-12
                        && t <= hi + 1e-12
                        && kept.iter().all(|k| (k - t).abs() >= gap * 0.999)
                    {
                        kept.push(t);
                    }
                };
                // 0 first, then ±10^k from the largest down (crowded small ones are dropped)
                offer(0.0, &mut kept);
                for k in (kmax - 24..=kmax).rev() {
                    let v = 10f64.powi(k);
                    offer(v, &mut kept);
                    offer(-v, &mut kept);
                }
                if kept.len() < 4 {
                    for m in [5.0, 2.0] {
                        for k in (kmax - 24..=kmax).rev() {
                            let v = m * 10f64.powi(k);
                            offer(v, &mut kept);
                            offer(-v, &mut kept);
                        }
                    }
                }
                kept.sort_by(f64::total_cmp);
                kept
            }
        }
    }
}

/// The smallest 1/2/5 × 10^k step giving at most `max_n` ticks in [lo, hi], as (1|2|5, k).
fn linear_step(lo: f64, hi: f64, max_n: usize) -> (i64, i32) {
    let span = (hi - lo).abs().max(f64::MIN_POSITIVE);
    let mut e = (span / max_n as f64).log10().floor() as i32 - 1;
    loop {
        for m in [1, 2, 5] {
            let step = m as f64 * 10f64.powi(e);
            let n = ((hi / step).floor() - (lo / step).ceil()) as i64 + 1;
            if n <= max_n as i64 {
                return (m, e);
            }
        }
        e += 1;
    }
}

/// `k · m · 10^e`, exact to the last bit where possible (0.6, not 0.6000000000000001).
fn scaled(km: i64, e: i32) -> f64 {
    if e >= 0 {
        km as f64 * 10f64.powi(e)
    } else {
        km as f64 / 10f64.powi(-e)
    }
}

/// Round ticks (1, 2, 5 × 10^k steps) in [lo, hi], at most `max_n` of them.
fn linear_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    let (m, e) = linear_step(lo, hi, max_n);
    let step = scaled(m, e);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| scaled(k * m, e)).collect()
}

/// Superscript digits for 10ᵏ labels.
fn superscript(k: i32) -> String {
    k.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d as usize - '0' as usize],
        })
        .collect()
}

/// Label of a tick value. On a linear axis `step` is the tick spacing (it sets the decimals)
/// and `e_axis` the decimal exponent of the largest tick (all labels share its notation).
fn tick_label(v: f64, step: Option<f64>, e_axis: i32) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "−" } else { "" };
    if a < 1e-300 || step.is_some_and(|s| a < s * 1e-6) {
        return "0".into();
    }
    let e = a.log10().floor() as i32;
    let s = match step {
        Some(st) => {
            let e_step = (st.log10() + 1e-9).floor() as i32;
            if (-3..7).contains(&e_axis) {
                let digits = (-e_step).clamp(0, 9) as usize;
                format!("{a:.digits$}")
            } else {
                let digits = (e_axis - e_step).clamp(0, 6) as usize;
                let m = a / 10f64.powi(e_axis);
                format!("{m:.digits$}×10{}", superscript(e_axis))
            }
        }
        None if !(-3..5).contains(&e) => {
            let m = (a / 10f64.powi(e) * 1e6).round() / 1e6;
            if m == 1.0 {
                format!("10{}", superscript(e))
            } else {
                format!("{m}×10{}", superscript(e))
            }
        }
        None => format!("{}", (a * 1e9).round() / 1e9),
    };
    format!("{sign}{s}")
}

/// Tick positions and labels for an axis of `len_px` pixels; labels must not collide.
fn axis_ticks(scale: Scale, lo: f64, hi: f64, len_px: f64, horizontal: bool) -> Vec<(f64, String)> {
    let mut max_n = ((len_px / if horizontal { 40.0 } else { 30.0 }) as usize).clamp(2, 11);
    loop {
        let ticks = scale.ticks(lo, hi, max_n);
        let step = match scale {
            Scale::Linear => {
                let (m, e) = linear_step(lo, hi, max_n);
                Some(scaled(m, e))
            }
            _ => None,
        };
        let e_axis = ticks
            .iter()
            .map(|t| scale.inverse(*t).abs())
            .fold(0.0, f64::max)
            .log10()
            .floor()
            .max(-300.0) as i32;
        // a log axis of decades far from 1: all of them as 10^k
        let powers = scale == Scale::Log10
            && ticks.iter().all(|t| t.fract() == 0.0)
            && ticks.iter().any(|t| !(-3.0..5.0).contains(t));
        let labelled: Vec<(f64, String)> = ticks
            .iter()
            .map(|t| {
                let label = if powers {
                    format!("10{}", superscript(*t as i32))
                } else {
                    tick_label(scale.inverse(*t), step, e_axis)
                };
                (*t, label)
            })
            .collect();
        let px = |t: f64| (t - lo) / (hi - lo) * len_px;
        let fits = labelled.windows(2).all(|w| {
            let room = (px(w[1].0) - px(w[0].0)).abs();
            let need = if horizontal {
                (text_width(&w[0].1, TICK_PX) + text_width(&w[1].1, TICK_PX)) / 2.0 + 8.0
            } else {
                TICK_PX + 3.0
            };
            room >= need
        });
        if fits || max_n <= 2 {
            return labelled;
        }
        max_n -= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Validation and ranges
// ---------------------------------------------------------------------------------------------

fn check(fig: &Figure) -> Result<(), PlotError> {
    if fig.panels.is_empty() || fig.rows == 0 || fig.cols == 0 {
        return Err(PlotError::Empty);
    }
    if fig.panels.len() > fig.rows * fig.cols {
        return Err(PlotError::TooManyPanels {
            panels: fig.panels.len(),
            rows: fig.rows,
            cols: fig.cols,
        });
    }
    for p in &fig.panels {
        let name = |l: &Option<String>| l.clone().unwrap_or_else(|| "unlabelled".into());
        for s in &p.series {
            if s.x.len() != s.y.len() {
                return Err(PlotError::Length {
                    panel: p.title.clone(),
                    what: name(&s.label),
                    x: s.x.len(),
                    y: s.y.len(),
                });
            }
        }
        for b in &p.bands {
            if b.x.len() != b.lower.len() || b.x.len() != b.upper.len() {
                let y = if b.lower.len() != b.x.len() {
                    b.lower.len()
                } else {
                    b.upper.len()
                };
                return Err(PlotError::Length {
                    panel: p.title.clone(),
                    what: name(&b.label),
                    x: b.x.len(),
                    y,
                });
            }
        }
        data_range(p, true)?;
        data_range(p, false)?;
    }
    Ok(())
}

/// Finite data values of one axis of a panel (bands included).
fn axis_values(p: &Panel, x_axis: bool) -> Vec<f64> {
    let mut v = Vec::new();
    for s in &p.series {
        for (a, b) in s.x.iter().zip(&s.y) {
            if a.is_finite() && b.is_finite() {
                v.push(if x_axis { *a } else { *b });
            }
        }
    }
    for b in &p.bands {
        for i in 0..b.x.len() {
            if !b.x[i].is_finite() {
                continue;
            }
            if x_axis {
                if b.lower[i].is_finite() || b.upper[i].is_finite() {
                    v.push(b.x[i]);
                }
            } else {
                v.extend(
                    [b.lower[i], b.upper[i]]
                        .into_iter()
                        .filter(|y| y.is_finite()),
                );
            }
        }
    }
    v
}

/// The transformed range of an axis: the fixed one, or the data's with a 5% margin.
fn data_range(p: &Panel, x_axis: bool) -> Result<(f64, f64), PlotError> {
    let (scale, fixed, axis) = if x_axis {
        (p.x_scale, p.x_range, "x")
    } else {
        (p.y_scale, p.y_range, "y")
    };
    let values = axis_values(p, x_axis);
    if values.is_empty() {
        return Err(PlotError::NoData(p.title.clone()));
    }
    let bad_range = |lo: f64, hi: f64| PlotError::BadRange {
        panel: p.title.clone(),
        axis,
        lo,
        hi,
    };
    match scale {
        Scale::Log10 => {
            if let Some(bad) = values.iter().find(|v| **v <= 0.0) {
                return Err(PlotError::NonPositive {
                    panel: p.title.clone(),
                    axis,
                    value: *bad,
                });
            }
        }
        Scale::Asinh { linear_width } if !(linear_width > 0.0 && linear_width.is_finite()) => {
            return Err(bad_range(linear_width, linear_width));
        }
        _ => {}
    }
    if let Some((a, b)) = fixed {
        let (ta, tb) = (scale.forward(a), scale.forward(b));
        if !(ta.is_finite() && tb.is_finite() && ta < tb) {
            return Err(bad_range(a, b));
        }
        return Ok((ta, tb));
    }
    let t = values.iter().map(|v| scale.forward(*v));
    let lo = t.clone().fold(f64::INFINITY, f64::min);
    let hi = t.fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo {
        hi - lo
    } else if scale == Scale::Log10 {
        1.0
    } else {
        lo.abs().max(1.0)
    };
    Ok((lo - 0.05 * span, hi + 0.05 * span))
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

/// A linear axis over transformed values with our own tick positions.
#[derive(Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.lo) / (self.hi - self.lo);
        // keep far-off points finite for the backend
        let r = r.clamp(-10.0, 11.0);
        (limit.0 as f64 + r * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Where everything of one panel goes, in pixels relative to its cell.
struct Layout {
    /// Margins around the chart (top includes the title).
    top: u32,
    left: u32,
    right: u32,
    bottom: u32,
    /// Label areas.
    y_area: u32,
    x_area: u32,
    /// Plot rectangle: left, top, width, height.
    plot: (f64, f64, f64, f64),
    x: (f64, f64),
    y: (f64, f64),
    x_ticks: Vec<(f64, String)>,
    y_ticks: Vec<(f64, String)>,
}

impl Layout {
    fn new(cell: (u32, u32), p: &Panel, x: (f64, f64), y: (f64, f64)) -> Layout {
        let top = if p.title.is_empty() {
            10
        } else {
            (TITLE_PX * 1.5) as u32 + 6
        };
        let (left, right, bottom) = (6, 16, 6);
        let x_area =
            (TICK_LEN + 5) as u32 + TICK_PX as u32 + 6 + (!p.x_label.is_empty()) as u32 * 20;
        let plot_h = (cell.1 as f64 - (top + bottom + x_area) as f64).max(10.0);
        let y_ticks = axis_ticks(p.y_scale, y.0, y.1, plot_h, false);
        let widest = y_ticks
            .iter()
            .map(|(_, l)| text_width(l, TICK_PX))
            .fold(0.0, f64::max);
        let y_area = (2 * TICK_LEN) as u32
            + widest.ceil() as u32
            + 6
            + (!p.y_label.is_empty()) as u32 * (LABEL_PX as u32 + 6);
        let plot_w = (cell.0 as f64 - (left + right + y_area) as f64).max(10.0);
        let x_ticks = axis_ticks(p.x_scale, x.0, x.1, plot_w, true);
        Layout {
            top,
            left,
            right,
            bottom,
            y_area,
            x_area,
            plot: ((left + y_area) as f64, top as f64, plot_w, plot_h),
            x,
            y,
            x_ticks,
            y_ticks,
        }
    }

    fn px(&self, tx: f64) -> f64 {
        self.plot.0 + (tx - self.x.0) / (self.x.1 - self.x.0) * self.plot.2
    }

    fn py(&self, ty: f64) -> f64 {
        self.plot.1 + (self.y.1 - ty) / (self.y.1 - self.y.0) * self.plot.3
    }
}

// ---------------------------------------------------------------------------------------------
// Legend
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Swatch {
    Band(RGBAColor),
    Line(RGBAColor, u32, bool),
    Cross(RGBAColor, u32),
    Dot(RGBAColor, u32),
}

fn rgba(c: (u8, u8, u8), alpha: f64) -> RGBAColor {
    RGBColor(c.0, c.1, c.2).mix(alpha.clamp(0.0, 1.0))
}

fn legend_entries(p: &Panel) -> Vec<(String, Swatch)> {
    let mut out = Vec::new();
    for b in &p.bands {
        if let Some(l) = &b.label {
            out.push((l.clone(), Swatch::Band(rgba(b.color, b.alpha.max(0.3)))));
        }
    }
    for s in &p.series {
        if let Some(l) = &s.label {
            // legend entries stay visible even for faint series
            let c = rgba(s.color, s.alpha.max(0.7));
            out.push((
                l.clone(),
                match s.mark {
                    Mark::Line { width, dashed } => Swatch::Line(c, width, dashed),
                    Mark::Crosses { size } => Swatch::Cross(c, size),
                    Mark::Dots { size } => Swatch::Dot(c, size),
                },
            ));
        }
    }
    out
}

const LEGEND_ROW: f64 = 18.0;
const LEGEND_PAD: f64 = 6.0;
const LEGEND_SWATCH: f64 = 26.0;
const LEGEND_INSET: f64 = 6.0;

fn legend_size(entries: &[(String, Swatch)]) -> (f64, f64) {
    let text = entries
        .iter()
        .map(|(l, _)| text_width(l, LEGEND_PX))
        .fold(0.0, f64::max);
    (
        2.0 * LEGEND_PAD + LEGEND_SWATCH + 6.0 + text,
        2.0 * LEGEND_PAD + LEGEND_ROW * entries.len() as f64,
    )
}

/// Legend box (left, top, right, bottom) in a corner: 0 upper right, 1 upper left,
/// 2 lower right, 3 lower left.
fn legend_box(l: &Layout, size: (f64, f64), corner: usize) -> (f64, f64, f64, f64) {
    let (x0, y0, w, h) = l.plot;
    let left = if matches!(corner, 0 | 2) {
        x0 + w - LEGEND_INSET - size.0
    } else {
        x0 + LEGEND_INSET
    };
    let top = if corner < 2 {
        y0 + LEGEND_INSET
    } else {
        y0 + h - LEGEND_INSET - size.1
    };
    (left, top, left + size.0, top + size.1)
}

/// How much drawn data falls under a box (pixels of the layout).
fn covered(p: &Panel, l: &Layout, b: (f64, f64, f64, f64)) -> usize {
    let hits = |x0: f64, x1: f64, y0: f64, y1: f64| {
        x0.min(x1) <= b.2 && x0.max(x1) >= b.0 && y0.min(y1) <= b.3 && y0.max(y1) >= b.1
    };
    let pt = |x: f64, y: f64| {
        let (a, c) = (l.px(p.x_scale.forward(x)), l.py(p.y_scale.forward(y)));
        (a.is_finite() && c.is_finite()).then_some((a, c))
    };
    let mut n = 0;
    for s in &p.series {
        let pts: Vec<Option<(f64, f64)>> = s.x.iter().zip(&s.y).map(|(x, y)| pt(*x, *y)).collect();
        match s.mark {
            Mark::Line { .. } => {
                for w in pts.windows(2) {
                    if let (Some(a), Some(c)) = (w[0], w[1]) {
                        n += hits(a.0, c.0, a.1, c.1) as usize;
                    }
                }
            }
            Mark::Crosses { size } | Mark::Dots { size } => {
                let r = size as f64 + 2.0;
                for (x, y) in pts.into_iter().flatten() {
                    n += hits(x - r, x + r, y - r, y + r) as usize;
                }
            }
        }
    }
    for band in &p.bands {
        let col = |i: usize| {
            let x = l.px(p.x_scale.forward(band.x[i]));
            let lo = l.py(p.y_scale.forward(band.lower[i]));
            let hi = l.py(p.y_scale.forward(band.upper[i]));
            (x.is_finite() && lo.is_finite() && hi.is_finite()).then_some((x, lo, hi))
        };
        for i in 1..band.x.len() {
            if let (Some(a), Some(c)) = (col(i - 1), col(i)) {
                let (ylo, yhi) = (a.1.max(c.1), a.2.min(c.2));
                n += hits(a.0, c.0, ylo, yhi) as usize;
            }
        }
    }
    n
}

/// Chooses the legend corner; may raise the top of an automatic y range to make room.
fn place_legend(p: &Panel, cell: (u32, u32), l: Layout) -> (Layout, Option<usize>) {
    let entries = legend_entries(p);
    if !p.legend || entries.is_empty() {
        return (l, None);
    }
    let size = legend_size(&entries);
    let best = |l: &Layout| {
        (0..4)
            .map(|c| (covered(p, l, legend_box(l, size, c)), c))
            .min_by_key(|(n, c)| (*n, *c))
            .expect("four corners")
    };
    let (n, corner) = best(&l);
    if n == 0 || p.y_range.is_some() {
        return (l, Some(corner));
    }
    // make room above the data: the legend's share of the plot height goes on top
    let share = ((size.1 + LEGEND_INSET + 4.0) / l.plot.3).min(0.6);
    let (lo, hi) = l.y;
    let new_hi = (hi - lo * share) / (1.0 - share);
    let raised = Layout::new(cell, p, l.x, (lo, new_hi));
    let (n2, c2) = best(&raised);
    if n2 < n {
        (raised, Some(c2))
    } else {
        (l, Some(corner))
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

/// The visible rectangle of a panel, in transformed units.
#[derive(Clone, Copy)]
struct Rect {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Rect {
    fn contains(&self, (x, y): (f64, f64)) -> bool {
        let (ex, ey) = ((self.x1 - self.x0) * 1e-9, (self.y1 - self.y0) * 1e-9);
        x >= self.x0 - ex && x <= self.x1 + ex && y >= self.y0 - ey && y <= self.y1 + ey
    }

    /// The part of the segment a→b inside (Liang–Barsky).
    fn clip_segment(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - self.x0),
            (dx, self.x1 - a.0),
            (-dy, a.1 - self.y0),
            (dy, self.y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if t0 > t1 {
            return None;
        }
        let at = |t: f64| {
            if t == 0.0 {
                a
            } else if t == 1.0 {
                b
            } else {
                (a.0 + t * dx, a.1 + t * dy)
            }
        };
        Some((at(t0), at(t1)))
    }

    /// The visible pieces of a polyline.
    fn clip_polyline(&self, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let mut out = Vec::new();
        let mut cur: Vec<(f64, f64)> = Vec::new();
        for w in pts.windows(2) {
            match self.clip_segment(w[0], w[1]) {
                Some((p, q)) => {
                    if cur.last() != Some(&p) {
                        if cur.len() > 1 {
                            out.push(std::mem::take(&mut cur));
                        }
                        cur = vec![p];
                    }
                    cur.push(q);
                    if q != w[1] {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                None => {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                }
            }
        }
        if cur.len() > 1 {
            out.push(cur);
        }
        out
    }

    /// Band columns (x, lower, upper) cut to [x0, x1] (interpolated at the edges) and clamped
    /// to [y0, y1].
    fn clip_band(&self, cols: &[(f64, f64, f64)]) -> Vec<(f64, f64, f64)> {
        let inside = |c: &(f64, f64, f64)| c.0 >= self.x0 && c.0 <= self.x1;
        let mut out = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                let a = cols[i - 1];
                let mut edges: Vec<f64> = [self.x0, self.x1]
                    .into_iter()
                    .filter(|x| (a.0 < *x && *x < c.0) || (c.0 < *x && *x < a.0))
                    .collect();
                if a.0 > c.0 {
                    edges.reverse();
                }
                for x in edges {
                    let t = (x - a.0) / (c.0 - a.0);
                    out.push((x, a.1 + t * (c.1 - a.1), a.2 + t * (c.2 - a.2)));
                }
            }
            if inside(c) {
                out.push(*c);
            }
        }
        out.into_iter()
            .map(|(x, lo, hi)| (x, lo.clamp(self.y0, self.y1), hi.clamp(self.y0, self.y1)))
            .collect()
    }
}

type Area<DB> = DrawingArea<DB, Shift>;

/// Draws text at `pos` (relative to `area`), anchored by `h`/`v`; `vertical` reads bottom to
/// top. With `glyphwise`, each glyph is placed from the font's metrics (bitmap backends).
#[allow(clippy::too_many_arguments)]
fn text<DB: DrawingBackend>(
    area: &Area<DB>,
    glyphwise: bool,
    s: &str,
    pos: (i32, i32),
    size: f64,
    h: HPos,
    v: VPos,
    vertical: bool,
) -> Result<(), String> {
    let base = TextStyle::from(("sans-serif", size).into_font()).color(&BLACK);
    let base = if vertical {
        base.transform(FontTransform::Rotate270)
    } else {
        base
    };
    let m = match metrics() {
        Some(m) if glyphwise => m,
        _ => {
            return area
                .draw_text(s, &base.pos(Pos::new(h, v)), pos)
                .map_err(|e| e.to_string())
        }
    };
    let width = text_width(s, size);
    let mut pen = match h {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    let style = base.pos(Pos::new(HPos::Left, v));
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let (adv, lsb) = m.char_px(c, size);
        if !c.is_whitespace() {
            let off = pen.round() as i32 + lsb.floor() as i32;
            let at = if vertical {
                (pos.0, pos.1 - off)
            } else {
                (pos.0 + off, pos.1)
            };
            area.draw_text(c.encode_utf8(&mut buf), &style, at)
                .map_err(|e| e.to_string())?;
        }
        pen += adv;
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &Area<DB>,
    glyphwise: bool,
    p: &Panel,
    l: &Layout,
    corner: usize,
) -> Result<(), String> {
    let entries = legend_entries(p);
    let size = legend_size(&entries);
    let (x0, y0, x1, y1) = legend_box(l, size, corner);
    let r = |a: f64| a.round() as i32;
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.draw(&Rectangle::new(
        [(r(x0), r(y0)), (r(x1), r(y1))],
        WHITE.mix(0.85).filled(),
    ))
    .map_err(e)?;
    area.draw(&Rectangle::new(
        [(r(x0), r(y0)), (r(x1), r(y1))],
        RGBColor(170, 170, 170).stroke_width(1),
    ))
    .map_err(e)?;
    for (i, (label, swatch)) in entries.iter().enumerate() {
        let cy = r(y0 + LEGEND_PAD + LEGEND_ROW * (i as f64 + 0.5));
        let (sx0, sx1) = (r(x0 + LEGEND_PAD), r(x0 + LEGEND_PAD + LEGEND_SWATCH));
        let mid = (sx0 + sx1) / 2;
        match *swatch {
            Swatch::Band(c) => {
                area.draw(&Rectangle::new([(sx0, cy - 6), (sx1, cy + 6)], c.filled()))
            }
            Swatch::Line(c, w, false) => area.draw(&PathElement::new(
                vec![(sx0, cy), (sx1, cy)],
                c.stroke_width(w.max(2)),
            )),
            Swatch::Line(c, w, true) => {
                let style = c.stroke_width(w.max(2));
                let mut res = Ok(());
                for k in 0..3 {
                    let a = sx0 + k * 10;
                    res = res.and(area.draw(&PathElement::new(
                        vec![(a, cy), ((a + 6).min(sx1), cy)],
                        style,
                    )));
                }
                res
            }
            Swatch::Cross(c, s) => {
                area.draw(&Cross::new((mid, cy), s.min(7) as i32, c.stroke_width(2)))
            }
            Swatch::Dot(c, s) => area.draw(&Circle::new((mid, cy), s.clamp(2, 6), c.filled())),
        }
        .map_err(e)?;
        text(
            area,
            glyphwise,
            label,
            (sx1 + 6, cy),
            LEGEND_PX,
            HPos::Left,
            VPos::Center,
            false,
        )?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    cell: &Area<DB>,
    glyphwise: bool,
    p: &Panel,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let dims = cell.dim_in_pixel();
    let x = data_range(p, true).map_err(|e| e.to_string())?;
    let y = data_range(p, false).map_err(|e| e.to_string())?;
    let (l, corner) = place_legend(p, dims, Layout::new(dims, p, x, y));
    let (xs, ys) = (p.x_scale, p.y_scale);
    let x_coord = Axis {
        lo: l.x.0,
        hi: l.x.1,
        ticks: l.x_ticks.iter().map(|t| t.0).collect(),
    };
    let y_coord = Axis {
        lo: l.y.0,
        hi: l.y.1,
        ticks: l.y_ticks.iter().map(|t| t.0).collect(),
    };
    let mut chart = ChartBuilder::on(cell)
        .margin_top(l.top)
        .margin_left(l.left)
        .margin_right(l.right)
        .margin_bottom(l.bottom)
        .x_label_area_size(l.x_area)
        .y_label_area_size(l.y_area)
        .build_cartesian_2d(x_coord, y_coord)
        .map_err(e)?;
    let blank = |_: &f64| String::new();
    chart
        .configure_mesh()
        .x_label_formatter(&blank)
        .y_label_formatter(&blank)
        .set_tick_mark_size(LabelAreaPosition::Left, TICK_LEN)
        .set_tick_mark_size(LabelAreaPosition::Bottom, TICK_LEN)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(228, 228, 228))
        .axis_style(RGBColor(60, 60, 60))
        .draw()
        .map_err(e)?;

    // text: title, tick labels, axis labels (pixel positions relative to the cell)
    let base = cell.get_base_pixel();
    let rel = |t: (f64, f64)| {
        let (a, b) = chart.backend_coord(&t);
        (a - base.0, b - base.1)
    };
    let (plot_left, plot_bottom) = rel((l.x.0, l.y.0));
    let (plot_right, plot_top) = rel((l.x.1, l.y.1));
    if !p.title.is_empty() {
        text(
            cell,
            glyphwise,
            &p.title,
            ((plot_left + plot_right) / 2, 6),
            TITLE_PX,
            HPos::Center,
            VPos::Top,
            false,
        )?;
    }
    for (t, label) in &l.x_ticks {
        let (px, _) = rel((*t, l.y.0));
        let y = plot_bottom + 2 * TICK_LEN;
        text(
            cell,
            glyphwise,
            label,
            (px, y),
            TICK_PX,
            HPos::Center,
            VPos::Top,
            false,
        )?;
    }
    for (t, label) in &l.y_ticks {
        let (_, py) = rel((l.x.0, *t));
        let x = plot_left - 2 * TICK_LEN;
        text(
            cell,
            glyphwise,
            label,
            (x, py),
            TICK_PX,
            HPos::Right,
            VPos::Center,
            false,
        )?;
    }
    if !p.x_label.is_empty() {
        text(
            cell,
            glyphwise,
            &p.x_label,
            (
                (plot_left + plot_right) / 2,
                dims.1 as i32 - l.bottom as i32,
            ),
            LABEL_PX,
            HPos::Center,
            VPos::Bottom,
            false,
        )?;
    }
    if !p.y_label.is_empty() {
        text(
            cell,
            glyphwise,
            &p.y_label,
            (l.left as i32, (plot_top + plot_bottom) / 2),
            LABEL_PX,
            HPos::Center,
            VPos::Top,
            true,
        )?;
    }

    // data, clipped to the plot rectangle (transformed units)
    let view = Rect {
        x0: l.x.0,
        x1: l.x.1,
        y0: l.y.0,
        y1: l.y.1,
    };
    let tx = |v: f64| xs.forward(v);
    let ty = |v: f64| ys.forward(v);
    for b in &p.bands {
        let color = rgba(b.color, b.alpha);
        let cols: Vec<Option<(f64, f64, f64)>> = (0..b.x.len())
            .map(|i| {
                let (x, lo, hi) = (tx(b.x[i]), ty(b.lower[i]), ty(b.upper[i]));
                (x.is_finite() && lo.is_finite() && hi.is_finite()).then_some((x, lo, hi))
            })
            .collect();
        // one polygon per run of finite columns
        for run in cols.split(Option::is_none).filter(|r| r.len() > 1) {
            let run: Vec<(f64, f64, f64)> = run.iter().flatten().copied().collect();
            let run = view.clip_band(&run);
            if run.len() < 2 {
                continue;
            }
            let mut pts: Vec<(f64, f64)> = run.iter().map(|(x, _, hi)| (*x, *hi)).collect();
            pts.extend(run.iter().rev().map(|(x, lo, _)| (*x, *lo)));
            chart
                .draw_series(std::iter::once(Polygon::new(pts, color.filled())))
                .map_err(e)?;
        }
    }
    for s in &p.series {
        let color = rgba(s.color, s.alpha);
        let pts: Vec<Option<(f64, f64)>> =
            s.x.iter()
                .zip(&s.y)
                .map(|(x, y)| {
                    let (a, b) = (tx(*x), ty(*y));
                    (a.is_finite() && b.is_finite()).then_some((a, b))
                })
                .collect();
        let inside = pts.iter().flatten().copied().filter(|q| view.contains(*q));
        match s.mark {
            Mark::Line { width, dashed } => {
                let style = color.stroke_width(width.max(1));
                for run in pts.split(Option::is_none).filter(|r| r.len() > 1) {
                    let run: Vec<(f64, f64)> = run.iter().flatten().copied().collect();
                    for piece in view.clip_polyline(&run) {
                        if dashed {
                            let dash = 6 + 2 * width;
                            chart
                                .draw_series(DashedLineSeries::new(
                                    piece,
                                    dash,
                                    dash / 2 + 2,
                                    style,
                                ))
                                .map_err(e)?;
                        } else {
                            chart
                                .draw_series(LineSeries::new(piece, style))
                                .map_err(e)?;
                        }
                    }
                }
            }
            Mark::Crosses { size } => {
                let style = color.stroke_width(2);
                chart
                    .draw_series(inside.map(|q| Cross::new(q, size as i32, style)))
                    .map_err(e)?;
            }
            Mark::Dots { size } => {
                let style = color.filled();
                chart
                    .draw_series(inside.map(|q| Circle::new(q, size as i32, style)))
                    .map_err(e)?;
            }
        }
    }
    if let Some(corner) = corner {
        draw_legend(cell, glyphwise, p, &l, corner)?;
    }
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(
    root: Area<DB>,
    glyphwise: bool,
    fig: &Figure,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let area = match &fig.title {
        Some(t) => {
            let w = root.dim_in_pixel().0 as i32;
            text(
                &root,
                glyphwise,
                t,
                (w / 2, 10),
                FIG_TITLE_PX,
                HPos::Center,
                VPos::Top,
                false,
            )?;
            root.clone().margin(FIG_TITLE_H as i32, 0, 0, 0)
        }
        None => root.clone(),
    };
    let cells = area.split_evenly((fig.rows, fig.cols));
    for (p, cell) in fig.panels.iter().zip(cells.iter()) {
        draw_panel(cell, glyphwise, p)?;
    }
    root.present().map_err(|e| e.to_string())
}

fn size(fig: &Figure) -> (u32, u32) {
    let title = if fig.title.is_some() { FIG_TITLE_H } else { 0 };
    (
        fig.panel_size.0 * fig.cols as u32,
        fig.panel_size.1 * fig.rows as u32 + title,
    )
}

fn draw_error(path: &Path, reason: String) -> PlotError {
    PlotError::Draw {
        path: path.display().to_string(),
        reason,
    }
}

fn ensure_parent(path: &Path) -> Result<(), PlotError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => std::fs::create_dir_all(d).map_err(|e| draw_error(path, e.to_string())),
        None => Ok(()),
    }
}

/// Draws `fig` as a PNG.
pub fn render_png(fig: &Figure, path: &Path) -> Result<(), PlotError> {
    check(fig)?;
    register_font();
    ensure_parent(path)?;
    let root = BitMapBackend::new(path, size(fig)).into_drawing_area();
    draw_figure(root, true, fig).map_err(|e| draw_error(path, e))
}

/// Draws `fig` as an SVG.
pub fn render_svg(fig: &Figure, path: &Path) -> Result<(), PlotError> {
    check(fig)?;
    register_font();
    ensure_parent(path)?;
    let root = SVGBackend::new(path, size(fig)).into_drawing_area();
    draw_figure(root, false, fig).map_err(|e| draw_error(path, e))
}

/// Writes `stem.png` and `stem.svg`; returns their paths.
pub fn render(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    render_png(fig, &png)?;
    render_svg(fig, &svg)?;
    Ok(vec![png, svg])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: (u8, u8, u8) = (31, 119, 180);

    fn line(label: &str, x: Vec<f64>, y: Vec<f64>, dashed: bool) -> Series {
        Series::line(Some(label.into()), &x, &y, BLUE, 1.0, 2, dashed)
    }

    /// 1×2: an asinh-y panel with a band, crosses, a dashed line and a point at +∞; a log–log
    /// panel with dots.
    fn demo() -> Figure {
        let x: Vec<f64> = (0..50).map(|i| -3.0 + 6.0 * i as f64 / 49.0).collect();
        let mut a = Panel::new("asinh panel", "Δα", "σ ± 2");
        a.legend = true;
        a.y_scale = Scale::Asinh { linear_width: 1.0 };
        a.bands.push(Band {
            label: Some("band ±2σ".into()),
            x: x.clone(),
            lower: x.iter().map(|v| v.sin() - 1.0).collect(),
            upper: x.iter().map(|v| v.sin() + 1.0).collect(),
            color: (170, 170, 170),
            alpha: 0.5,
        });
        a.series.push(line(
            "kernel",
            x.clone(),
            x.iter().map(|v| 100.0 * (-v * v).exp()).collect(),
            false,
        ));
        let mut analytic: Vec<f64> = x.iter().map(|v| 1.0 / v.abs().max(1e-3)).collect();
        analytic[25] = f64::INFINITY;
        a.series.push(line("analytic", x.clone(), analytic, true));
        a.series.push(Series::crosses(
            "training points",
            &[-1.0, 0.5],
            &[0.2, 0.4],
            (0, 0, 0),
            5,
        ));
        let mut b = Panel::new("log panel", "width n", "MSE");
        b.legend = true;
        b.x_scale = Scale::Log10;
        b.y_scale = Scale::Log10;
        b.series.push(Series::dots(
            Some("mse".into()),
            &[10.0, 100.0, 1000.0],
            &[1.0, 0.1, 0.01],
            (255, 127, 14),
            0.8,
            3,
        ));
        Figure {
            title: Some("demo Σ".into()),
            rows: 1,
            cols: 2,
            panel_size: (480, 360),
            panels: vec![a, b],
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sgntk-plot-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn renders_png_and_svg() {
        let dir = scratch("render");
        let files = render(&demo(), &dir.join("demo")).unwrap();
        assert_eq!(files, vec![dir.join("demo.png"), dir.join("demo.svg")]);
        let png = std::fs::read(&files[0]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 5000);
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "asinh panel",
            "log panel",
            "training points",
            "band ±2σ",
            "demo Σ",
            "Δα",
            "1000",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn font_metrics_come_from_the_bundled_font() {
        let m = metrics().expect("DejaVu Sans parses");
        for c in ['a', 'N', '=', 'Δ', 'σ', '±', '−', '⁻', '×'] {
            let g = m.glyph(c).unwrap_or(0);
            assert!(g > 0, "no glyph for {c}");
            let (adv, lsb) = m.char_px(c, 20.0);
            assert!(
                adv > 3.0 && adv < 20.0 && lsb.abs() < 5.0,
                "{c}: {adv} {lsb}"
            );
        }
        // '=' sits well inside its advance: that is the bearing plotters would drop
        assert!(m.char_px('=', 20.0).1 > 1.0);
        // widths agree with plotters' own layout (same font, same scale)
        register_font();
        let s = "Empirical SG-NTK, Δα = ±π";
        let style = TextStyle::from(("sans-serif", 20.0).into_font());
        let (w, _) = style.font.box_size(s).unwrap();
        assert!((text_width(s, 20.0) - w as f64).abs() < 3.0, "{w}");
    }

    #[test]
    fn ticks_are_round_values() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 6),
            vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(
            linear_ticks(-std::f64::consts::PI, std::f64::consts::PI, 7),
            vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
        );
        let asinh = Scale::Asinh { linear_width: 1.0 };
        let t = asinh.ticks(asinh.forward(-20.0), asinh.forward(2e4), 9);
        let values: Vec<f64> = t.iter().map(|v| asinh.inverse(*v)).collect();
        for want in [-10.0, 0.0, 10.0, 100.0, 1000.0, 1e4] {
            assert!(
                values
                    .iter()
                    .any(|v| (v - want).abs() < 1e-6 * want.abs().max(1.0)),
                "{want} not in {values:?}"
            );
        }
        // a narrow asinh range still gets a few ticks, from 2·10^k and 5·10^k
        let t = asinh.ticks(asinh.forward(-0.5), asinh.forward(3.0), 8);
        assert!(t.len() >= 3, "{t:?}");
        // log axes: decades, thinned when there are many
        assert_eq!(Scale::Log10.ticks(1.0, 3.0, 8), vec![1.0, 2.0, 3.0]);
        assert!(Scale::Log10.ticks(-10.0, 10.0, 6).len() <= 6);
        assert!(Scale::Log10.ticks(0.1, 0.6, 6).len() >= 2);
        assert_eq!(tick_label(1e-6, None, 0), "10⁻⁶");
        assert_eq!(tick_label(-2e5, None, 0), "−2×10⁵");
        assert_eq!(tick_label(2.5, None, 0), "2.5");
        assert_eq!(tick_label(0.6000000000000001, Some(0.2), 0), "0.6");
        assert_eq!(tick_label(1000.5, Some(0.5), 3), "1000.5");
        assert_eq!(tick_label(-3.0, Some(1.0), 0), "−3");
        // linear axes share one notation: a common exponent for tiny or huge ticks
        assert_eq!(tick_label(5e-5, Some(5e-5), -4), "0.5×10⁻⁴");
        assert_eq!(tick_label(1.5e-4, Some(5e-5), -4), "1.5×10⁻⁴");
        assert_eq!(tick_label(0.0005, Some(5e-4), -3), "0.0005");
    }

    #[test]
    fn x_tick_labels_do_not_overlap() {
        for scale in [
            Scale::Linear,
            Scale::Log10,
            Scale::Asinh { linear_width: 1.0 },
        ] {
            let (lo, hi) = (scale.forward(1.234e-3), scale.forward(9.87e6));
            let ticks = axis_ticks(scale, lo, hi, 300.0, true);
            assert!(ticks.len() >= 2, "{scale:?}");
            for w in ticks.windows(2) {
                let gap = (w[1].0 - w[0].0) / (hi - lo) * 300.0;
                let need = (text_width(&w[0].1, TICK_PX) + text_width(&w[1].1, TICK_PX)) / 2.0;
                assert!(gap > need, "{scale:?}: {ticks:?}");
            }
        }
    }

    #[test]
    fn legend_avoids_data() {
        let fig = demo();
        let p = &fig.panels[0];
        let cell = fig.panel_size;
        let l = Layout::new(
            cell,
            p,
            data_range(p, true).unwrap(),
            data_range(p, false).unwrap(),
        );
        let (l, corner) = place_legend(p, cell, l);
        let size = legend_size(&legend_entries(p));
        assert_eq!(covered(p, &l, legend_box(&l, size, corner.unwrap())), 0);
    }

    #[test]
    fn clipping_keeps_what_is_inside() {
        let r = Rect {
            x0: 0.0,
            x1: 1.0,
            y0: 0.0,
            y1: 1.0,
        };
        // in, out through the top, back in, out to the right
        let pieces = r.clip_polyline(&[(0.5, 0.5), (0.5, 2.0), (0.7, 0.5), (2.0, 0.5)]);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[0], vec![(0.5, 0.5), (0.5, 1.0)]);
        assert_eq!(pieces[1].last(), Some(&(1.0, 0.5)));
        assert!(r.clip_polyline(&[(2.0, 2.0), (3.0, 3.0)]).is_empty());
        let band = r.clip_band(&[(-1.0, -1.0, 3.0), (1.0, 0.2, 0.4), (3.0, 0.2, 0.4)]);
        assert_eq!(band, vec![(0.0, 0.0, 1.0), (1.0, 0.2, 0.4)]);
    }

    #[test]
    fn bad_figures_are_errors() {
        let dir = scratch("errors");
        let out = dir.join("e.png");
        let mut f = demo();
        f.panels.clear();
        assert!(matches!(render_png(&f, &out), Err(PlotError::Empty)));
        let mut f = demo();
        f.cols = 1;
        assert!(matches!(
            render_png(&f, &out),
            Err(PlotError::TooManyPanels {
                panels: 2,
                rows: 1,
                cols: 1
            })
        ));
        let mut f = demo();
        f.panels[0].series[0].y.pop();
        assert!(matches!(
            render_png(&f, &out),
            Err(PlotError::Length { x: 50, y: 49, .. })
        ));
        let mut f = demo();
        f.panels[0].bands[0].upper.pop();
        assert!(matches!(
            render_svg(&f, &dir.join("e.svg")),
            Err(PlotError::Length { .. })
        ));
        let mut f = demo();
        f.panels[1].series[0].y[0] = -1.0;
        match render_png(&f, &out) {
            Err(e @ PlotError::NonPositive { .. }) => {
                assert!(e.to_string().contains("log panel"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let mut f = demo();
        f.panels[1].series[0].y = vec![f64::NAN, f64::INFINITY, f64::NAN];
        assert!(matches!(render_png(&f, &out), Err(PlotError::NoData(_))));
        let mut f = demo();
        f.panels[0].x_range = Some((1.0, 1.0));
        assert!(matches!(
            render_png(&f, &out),
            Err(PlotError::BadRange { axis: "x", .. })
        ));
        let mut f = demo();
        f.panels[1].y_range = Some((0.0, 1.0));
        assert!(matches!(
            render_png(&f, &out),
            Err(PlotError::BadRange { axis: "y", .. })
        ));
        let blocked = dir.join("file");
        std::fs::write(&blocked, b"").unwrap();
        assert!(matches!(
            render(&demo(), &blocked.join("sub").join("x")),
            Err(PlotError::Draw { .. })
        ));
        assert!(!out.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

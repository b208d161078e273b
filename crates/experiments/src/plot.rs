//! Figures with panels, drawn by plotters to PNG and SVG with a bundled font (DejaVu Sans), so
//! rendering needs no system fonts.
//!
//! A [`Figure`] is a grid of [`Panel`]s; a panel holds filled [`Band`]s (e.g. GP mean ± 2 std) and
//! [`Series`] drawn as lines (solid or dashed), crosses or dots. Axes are linear, log10 or asinh
//! (`y' = asinh(y / w)`: linear near 0, logarithmic far out, as in the paper's Fig. 1); ticks of
//! non-linear axes are placed at round values of the data and labelled with those values.
//! Non-finite points are skipped (a line is broken there).

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::FontStyle;
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
        /// The width w of the linear region.
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
    /// The backend failed (e.g. the file could not be written).
    #[error("{path}: {reason}")]
    Draw {
        /// Output file.
        path: String,
        /// What failed.
        reason: String,
    },
}

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

    /// Tick positions (transformed units) for the transformed range [lo, hi].
    fn ticks(self, lo: f64, hi: f64) -> Vec<f64> {
        match self {
            Scale::Linear => linear_ticks(lo, hi, 6),
            Scale::Log10 => {
                let (a, b) = (lo.ceil() as i64, hi.floor() as i64);
                let mut t: Vec<f64> = (a..=b).map(|k| k as f64).collect();
                if t.len() < 3 {
                    // add 2× and 5× points inside the range
                    t = (lo.floor() as i64..=hi.ceil() as i64)
                        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| (m * 10f64.powi(k as i32)).log10()))
                        .filter(|v| *v >= lo && *v <= hi)
                        .collect();
                }
                t
            }
            Scale::Asinh { linear_width } => {
                // candidates by priority: 0, then ±10^k (large first), then ±2·10^k, ±5·10^k
                let mut cands = vec![0.0];
                for m in [1.0, 2.0, 5.0] {
                    for k in (-3..=9).rev() {
                        let v = m * 10f64.powi(k) * linear_width;
                        cands.extend([v, -v]);
                    }
                }
                let gap = (hi - lo) / 9.0;
                let mut kept: Vec<f64> = Vec::new();
                for t in cands.into_iter().map(|v| self.forward(v)) {
                    if t >= lo && t <= hi && kept.iter().all(|k| (k - t).abs() >= gap) {
                        kept.push(t);
                    }
                }
                kept.sort_by(f64::total_cmp);
                kept
            }
        }
    }
}

/// About `n` round ticks (1, 2, 5 × 10^k steps) in [lo, hi].
fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Compact label of a tick value.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        return if (m.abs() - 1.0).abs() < 1e-9 {
            format!("{}1e{e}", if v < 0.0 { "-" } else { "" })
        } else {
            format!("{m:.1}e{e}")
        };
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn rgba(c: (u8, u8, u8), alpha: f64) -> RGBAColor {
    RGBColor(c.0, c.1, c.2).mix(alpha.clamp(0.0, 1.0))
}

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
                return Err(PlotError::Length {
                    panel: p.title.clone(),
                    what: name(&b.label),
                    x: b.x.len(),
                    y: b.lower.len().min(b.upper.len()),
                });
            }
        }
        axis_range(p, true)?;
        axis_range(p, false)?;
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
            if x_axis {
                v.push(b.x[i]);
            } else {
                v.push(b.lower[i]);
                v.push(b.upper[i]);
            }
        }
    }
    v.retain(|x| x.is_finite());
    v
}

/// The transformed range of an axis, with a margin.
fn axis_range(p: &Panel, x_axis: bool) -> Result<(f64, f64), PlotError> {
    let (scale, fixed) = if x_axis {
        (p.x_scale, p.x_range)
    } else {
        (p.y_scale, p.y_range)
    };
    let values = axis_values(p, x_axis);
    if scale == Scale::Log10 {
        if let Some(bad) = values.iter().find(|v| **v <= 0.0) {
            return Err(PlotError::NonPositive {
                panel: p.title.clone(),
                axis: if x_axis { "x" } else { "y" },
                value: *bad,
            });
        }
    }
    if let Some((a, b)) = fixed {
        return Ok((scale.forward(a), scale.forward(b)));
    }
    if values.is_empty() {
        return Err(PlotError::NoData(p.title.clone()));
    }
    let t: Vec<f64> = values.iter().map(|v| scale.forward(*v)).collect();
    let lo = t.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    // room above the data for the legend (upper right), one text line per entry
    let entries = p.series.iter().filter(|s| s.label.is_some()).count()
        + p.bands.iter().filter(|b| b.label.is_some()).count();
    let top = if !x_axis && p.legend && entries > 0 {
        0.05 + 0.075 * entries as f64
    } else {
        0.05
    };
    Ok((lo - 0.05 * span, hi + top * span))
}

/// A linear axis over transformed values with our own tick positions.
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

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &Panel,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = axis_range(p, true).map_err(|e| e.to_string())?;
    let (y0, y1) = axis_range(p, false).map_err(|e| e.to_string())?;
    let xs = p.x_scale;
    let ys = p.y_scale;
    let x_coord = Axis {
        lo: x0,
        hi: x1,
        ticks: xs.ticks(x0, x1),
    };
    let y_coord = Axis {
        lo: y0,
        hi: y1,
        ticks: ys.ticks(y0, y1),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(x_coord, y_coord)
        .map_err(|e| e.to_string())?;
    let x_fmt = move |t: &f64| tick_label(xs.inverse(*t));
    let y_fmt = move |t: &f64| tick_label(ys.inverse(*t));
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(|e| e.to_string())?;
    let tx = |v: f64| xs.forward(v);
    let ty = |v: f64| ys.forward(v);
    for b in &p.bands {
        let color = rgba(b.color, b.alpha);
        // one polygon per run of finite points
        let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
        for i in 0..b.x.len() {
            let (x, lo, hi) = (tx(b.x[i]), ty(b.lower[i]), ty(b.upper[i]));
            if x.is_finite() && lo.is_finite() && hi.is_finite() {
                runs.last_mut().expect("non-empty").push((x, lo, hi));
            } else if !runs.last().expect("non-empty").is_empty() {
                runs.push(Vec::new());
            }
        }
        let mut first = true;
        for run in runs.into_iter().filter(|r| r.len() > 1) {
            let mut pts: Vec<(f64, f64)> = run.iter().map(|(x, _, hi)| (*x, *hi)).collect();
            pts.extend(run.iter().rev().map(|(x, lo, _)| (*x, *lo)));
            let anno = chart
                .draw_series(std::iter::once(Polygon::new(pts, color.filled())))
                .map_err(|e| e.to_string())?;
            if first {
                if let Some(l) = &b.label {
                    anno.label(l.as_str()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled())
                    });
                }
                first = false;
            }
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
        // legend entries stay visible even for faint series
        let legend_color = rgba(s.color, s.alpha.max(0.7));
        let mut labelled = false;
        let mut label = |anno: &mut SeriesAnno<'_, DB>, mark: Mark| {
            if labelled {
                return;
            }
            labelled = true;
            if let Some(l) = &s.label {
                let c = legend_color;
                match mark {
                    Mark::Line { width, .. } => {
                        anno.label(l.as_str()).legend(move |(x, y)| {
                            PathElement::new(
                                vec![(x, y), (x + 18, y)],
                                c.stroke_width(width.max(2)),
                            )
                        });
                    }
                    Mark::Crosses { size } => {
                        anno.label(l.as_str()).legend(move |(x, y)| {
                            Cross::new((x + 9, y), size as i32, c.stroke_width(2))
                        });
                    }
                    Mark::Dots { size } => {
                        anno.label(l.as_str())
                            .legend(move |(x, y)| Circle::new((x + 9, y), size as i32, c.filled()));
                    }
                }
            }
        };
        match s.mark {
            Mark::Line { width, dashed } => {
                let style = color.stroke_width(width);
                for run in pts.split(Option::is_none).filter(|r| !r.is_empty()) {
                    let run: Vec<(f64, f64)> = run.iter().map(|p| p.expect("finite")).collect();
                    let mut anno = if dashed {
                        chart.draw_series(DashedLineSeries::new(run, 8, 5, style))
                    } else {
                        chart.draw_series(LineSeries::new(run, style))
                    }
                    .map_err(|e| e.to_string())?;
                    label(&mut anno, s.mark);
                }
            }
            Mark::Crosses { size } => {
                let style = color.stroke_width(2);
                let mut anno = chart
                    .draw_series(
                        pts.iter()
                            .flatten()
                            .map(|p| Cross::new(*p, size as i32, style)),
                    )
                    .map_err(|e| e.to_string())?;
                label(&mut anno, s.mark);
            }
            Mark::Dots { size } => {
                let style = color.filled();
                let mut anno = chart
                    .draw_series(
                        pts.iter()
                            .flatten()
                            .map(|p| Circle::new(*p, size as i32, style)),
                    )
                    .map_err(|e| e.to_string())?;
                label(&mut anno, s.mark);
            }
        }
    }
    let has_labels =
        p.series.iter().any(|s| s.label.is_some()) || p.bands.iter().any(|b| b.label.is_some());
    if p.legend && has_labels {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

type SeriesAnno<'a, DB> = plotters::chart::SeriesAnno<'a, DB>;

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    fig: &Figure,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let area = match &fig.title {
        Some(t) => root
            .titled(t, ("sans-serif", 22))
            .map_err(|e| e.to_string())?,
        None => root.clone(),
    };
    let cells = area.split_evenly((fig.rows, fig.cols));
    for (p, cell) in fig.panels.iter().zip(cells.iter()) {
        draw_panel(cell, p)?;
    }
    root.present().map_err(|e| e.to_string())
}

fn size(fig: &Figure) -> (u32, u32) {
    let title = if fig.title.is_some() { 40 } else { 0 };
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
    draw_figure(root, fig).map_err(|e| draw_error(path, e))
}

/// Draws `fig` as an SVG.
pub fn render_svg(fig: &Figure, path: &Path) -> Result<(), PlotError> {
    check(fig)?;
    register_font();
    ensure_parent(path)?;
    let root = SVGBackend::new(path, size(fig)).into_drawing_area();
    draw_figure(root, fig).map_err(|e| draw_error(path, e))
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

    fn line(label: &str, x: Vec<f64>, y: Vec<f64>, dashed: bool) -> Series {
        Series::line(Some(label.into()), &x, &y, (31, 119, 180), 1.0, 2, dashed)
    }

    fn panel(title: &str) -> Panel {
        Panel {
            legend: true,
            ..Panel::new(title, "Δα", "σ ± 2")
        }
    }

    fn demo() -> Figure {
        let x: Vec<f64> = (0..50).map(|i| -3.0 + 6.0 * i as f64 / 49.0).collect();
        let mut a = panel("asinh panel");
        a.y_scale = Scale::Asinh { linear_width: 1.0 };
        a.series.push(line(
            "kernel",
            x.clone(),
            x.iter().map(|v| 100.0 * (-v * v).exp()).collect(),
            false,
        ));
        let mut inf = x
            .iter()
            .map(|v| 1.0 / v.abs().max(1e-300))
            .collect::<Vec<_>>();
        inf[25] = f64::INFINITY;
        a.series.push(line("analytic", x.clone(), inf, true));
        a.bands.push(Band {
            label: Some("band".into()),
            x: x.clone(),
            lower: x.iter().map(|v| v.sin() - 1.0).collect(),
            upper: x.iter().map(|v| v.sin() + 1.0).collect(),
            color: (170, 170, 170),
            alpha: 0.5,
        });
        a.series.push(Series::crosses(
            "training points",
            &[-1.0, 0.5],
            &[0.2, 0.4],
            (0, 0, 0),
            5,
        ));
        let mut b = panel("log panel");
        b.x_scale = Scale::Log10;
        b.y_scale = Scale::Log10;
        b.series.push(Series {
            label: Some("mse".into()),
            x: vec![10.0, 100.0, 1000.0],
            y: vec![1.0, 0.1, 0.01],
            color: (255, 127, 14),
            alpha: 0.8,
            mark: Mark::Dots { size: 3 },
        });
        Figure {
            title: Some("demo Σ".into()),
            rows: 1,
            cols: 2,
            panel_size: (420, 320),
            panels: vec![a, b],
        }
    }

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!("sgntk-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn renders_png_and_svg() {
        let dir = scratch();
        let files = render(&demo(), &dir.join("demo")).unwrap();
        let png = std::fs::read(&files[0]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 5000);
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        for text in [
            "asinh panel",
            "log panel",
            "training points",
            "demo Σ",
            "Δα",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
    }

    #[test]
    fn ticks_are_round_values() {
        assert_eq!(
            linear_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let asinh = Scale::Asinh { linear_width: 1.0 };
        let t = asinh.ticks(asinh.forward(-2.0), asinh.forward(500.0));
        let labels: Vec<String> = t.iter().map(|v| tick_label(asinh.inverse(*v))).collect();
        assert!(
            labels.contains(&"0".to_string()) && labels.contains(&"100".to_string()),
            "{labels:?}"
        );
        let log = Scale::Log10.ticks(1.0, 3.0);
        assert_eq!(log, vec![1.0, 2.0, 3.0]);
        assert_eq!(tick_label(1e-6), "1e-6");
        assert_eq!(tick_label(2.5), "2.5");
    }

    #[test]
    fn bad_figures_are_errors() {
        let dir = scratch();
        let mut f = demo();
        f.panels.clear();
        assert!(matches!(
            render_png(&f, &dir.join("e.png")),
            Err(PlotError::Empty)
        ));
        let mut f = demo();
        f.cols = 1;
        assert!(matches!(
            render_png(&f, &dir.join("e.png")),
            Err(PlotError::TooManyPanels { .. })
        ));
        let mut f = demo();
        f.panels[0].series[0].y.pop();
        assert!(matches!(
            render_png(&f, &dir.join("e.png")),
            Err(PlotError::Length { .. })
        ));
        let mut f = demo();
        f.panels[1].series[0].y[0] = -1.0;
        assert!(matches!(
            render_png(&f, &dir.join("e.png")),
            Err(PlotError::NonPositive { .. })
        ));
        let mut f = demo();
        f.panels[1].series[0].y = vec![f64::NAN; 3];
        assert!(matches!(
            render_png(&f, &dir.join("e.png")),
            Err(PlotError::NoData(_))
        ));
    }
}

//! Figures as grids of panels, drawn with plotters' chart API into an SVG; the PNG is that SVG
//! rasterized by resvg with the bundled font (DejaVu Sans), so both look the same and rendering
//! needs no system fonts (plotters' own bitmap text drops each glyph's left side bearing).
//!
//! A [`Figure`] is a grid of [`Panel`]s; a panel holds filled [`Band`]s and [`Series`] (lines,
//! dashed lines, crosses or dots). Axes are linear, log10 (plotters' `log_scale`) or asinh
//! ([`AsinhCoord`]: `y' = asinh(y / w)`, linear near 0 and logarithmic far out, as in the paper's
//! Fig. 1), with ticks at round values. Non-finite points are skipped: a line is broken there.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, KeyPointHint, NoDefaultFormatting, Ranged};
use plotters::coord::ranged1d::{ReversibleRanged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::{DashedPathElement, MultiLineText};
use plotters::prelude::*;
use resvg::{tiny_skia, usvg};
use thiserror::Error;

pub use plotters::chart::SeriesLabelPosition as LegendPos;
pub use plotters::style::RGBColor;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The SVGs' font: the bundled one, which resvg is given; elsewhere any sans-serif.
const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Which image files to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `.png` only.
    Png,
    /// `.svg` only.
    Svg,
    /// `.png` and `.svg`.
    #[default]
    Both,
}

/// How a series is drawn (sizes in pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mark {
    /// A polyline of the given stroke width.
    Line(u32),
    /// A dashed polyline of the given stroke width.
    Dashed(u32),
    /// A × of the given half-size at every point.
    Crosses(u32),
    /// A filled dot of the given radius at every point.
    Dots(u32),
}

/// Points drawn with one colour (of opacity `alpha`) and mark; `label`: its legend entry;
/// `outline`: a white halo under a line, so that it stays visible above many traces of its colour.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: Option<String>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub color: RGBColor,
    pub alpha: f64,
    pub mark: Mark,
    pub outline: bool,
}

impl Series {
    /// A thin polyline.
    pub fn line(label: Option<String>, x: &[f64], y: &[f64], color: RGBColor, alpha: f64) -> Self {
        let (x, y, mark) = (x.to_vec(), y.to_vec(), Mark::Line(1));
        Series {
            label,
            x,
            y,
            color,
            alpha,
            mark,
            outline: false,
        }
    }

    /// Opaque black crosses (e.g. training points).
    pub fn crosses(label: &str, x: &[f64], y: &[f64]) -> Self {
        Series::line(Some(label.into()), x, y, BLACK, 1.0).mark(Mark::Crosses(5))
    }

    /// The same series with another mark.
    pub fn mark(self, mark: Mark) -> Self {
        Series { mark, ..self }
    }

    /// The same series over a white halo (lines and dashed lines).
    pub fn outlined(self) -> Self {
        Series {
            outline: true,
            ..self
        }
    }
}

/// The area between two curves, filled with `color` of opacity `alpha`.
#[derive(Clone, Debug)]
pub struct Band {
    pub label: Option<String>,
    pub x: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub color: RGBColor,
    pub alpha: f64,
}

/// Axis scale.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Scale {
    #[default]
    Linear,
    /// log10 (non-positive values are skipped).
    Log10,
    /// asinh(v / w) for the given linear width w > 0.
    Asinh(f64),
}

/// A panel's axis: its description and its scale.
#[derive(Clone, Debug, Default)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

/// One chart under its title: bands drawn first, then the series in order; the legend (of the
/// labelled ones) or none; its x and y axes. The legend's position is a preference: it goes to
/// the place inside the panel where it covers the least data ([`legend_place`]), this one when
/// several cover equally little.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub title: String,
    pub bands: Vec<Band>,
    pub series: Vec<Series>,
    pub legend: Option<LegendPos>,
    pub x: Axis,
    pub y: Axis,
}

impl Panel {
    /// An empty panel with linear axes and no legend.
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Self {
        let axis = |label: &str| Axis {
            label: label.into(),
            scale: Scale::Linear,
        };
        Panel {
            title: title.into(),
            x: axis(x_label),
            y: axis(y_label),
            ..Panel::default()
        }
    }
}

/// A grid of (rows, cols) panels of `panel_size` pixels, row-major, with an optional title.
#[derive(Clone, Debug)]
pub struct Figure {
    pub title: Option<String>,
    pub grid: (usize, usize),
    pub panel_size: (u32, u32),
    pub panels: Vec<Panel>,
}

impl Figure {
    /// `panels` (row-major) on a `grid` of cells of `panel_size` pixels, under `title`.
    pub fn new(
        title: Option<String>,
        grid: (usize, usize),
        panel_size: (u32, u32),
        panels: Vec<Panel>,
    ) -> Self {
        Figure {
            title,
            grid,
            panel_size,
            panels,
        }
    }
}

/// Why a figure could not be drawn.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The figure's data cannot be drawn (lengths, grid, nothing finite, a bad scale).
    #[error("{0}")]
    Invalid(String),
    /// Drawing, rasterizing or writing a file failed.
    #[error("{0}")]
    Draw(String),
}

/// The asinh axis `v' = asinh(v / w)` over `[lo, hi]`, ticks at round values (0 and ±m·10^k;
/// plotters' linear ones on very narrow ranges).
#[derive(Clone, Debug, PartialEq)]
pub struct AsinhCoord {
    lo: f64,
    hi: f64,
    w: f64,
}

impl AsinhCoord {
    /// The axis over `[lo, hi]` (data units) with linear width `w`.
    pub fn new(lo: f64, hi: f64, w: f64) -> Self {
        AsinhCoord { lo, hi, w }
    }

    fn fwd(&self, v: f64) -> f64 {
        (v / self.w).asinh()
    }
}

impl Ranged for AsinhCoord {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (a, b): (i32, i32)) -> i32 {
        let f = (self.fwd(*v) - self.fwd(self.lo)) / (self.fwd(self.hi) - self.fwd(self.lo));
        a + (f * f64::from(b - a)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        match round_ticks(self.lo, self.hi, self.w.log10().floor() as i32, 4, max) {
            t if t.len() >= 2 => t,
            _ => RangedCoordf64::from(self.lo..self.hi).key_points(max),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ReversibleRanged for AsinhCoord {
    fn unmap(&self, px: i32, (a, b): (i32, i32)) -> Option<f64> {
        let f = f64::from(px - a) / f64::from(b - a);
        let t = self.fwd(self.lo) + f * (self.fwd(self.hi) - self.fwd(self.lo));
        Some(self.w * t.sinh())
    }
}

impl ValueFormatter<f64> for AsinhCoord {
    fn format_ext(&self, v: &f64) -> String {
        tick_label(*v)
    }
}

/// Round values in `[lo, hi]`: 0 and ±m·10^k for k ≥ `k0`, m from the first of the levels
/// 1 / 1, 2, 5 / 1…9 that gives at least `min` values; decades thinned to at most `max`.
fn round_ticks(lo: f64, hi: f64, k0: i32, min: usize, max: usize) -> Vec<f64> {
    let k1 = lo.abs().max(hi.abs()).log10().ceil() as i32;
    let level = |ms: &[f64]| {
        let pm = |k: i32| ms.iter().map(move |m| m * 10f64.powi(k));
        let pm = |k: i32| pm(k).flat_map(|v| [v, -v]);
        let inside = |v: &f64| (lo..=hi).contains(v);
        let mut t: Vec<f64> = (k0..=k1).flat_map(pm).chain([0.0]).filter(inside).collect();
        t.sort_by(f64::total_cmp);
        t
    };
    let levels = [
        vec![1.0],
        vec![1.0, 2.0, 5.0],
        (1..10).map(f64::from).collect(),
    ];
    let t = levels.iter().map(|ms| level(ms)).find(|t| t.len() >= min);
    let mut t = t.unwrap_or_else(|| level(&levels[2]));
    let every = t.len().div_ceil(max.max(3)) as i32;
    t.retain(|v| *v == 0.0 || (v.abs().log10().round() as i32 - k0) % every == 0);
    t
}

const SUP: [char; 11] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹', '⁻'];

/// A tick value as text: decimals from 10⁻³ to 10⁴, `m×10ᵏ` beyond; a true minus sign.
pub fn tick_label(v: f64) -> String {
    let k = (v.abs().log10() + 1e-9).floor() as i32;
    let trim = |s: String| match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    };
    let sup = |c: char| SUP.get(c.to_digit(10).map_or(10, |d| d as usize)).copied();
    let s = match (v == 0.0, (-3..4).contains(&k)) {
        (true, _) => "0".to_string(),
        (false, true) => trim(format!("{v:.*}", (3 - k).max(0) as usize)),
        (false, false) => {
            let power: String = k.to_string().chars().filter_map(sup).collect();
            match trim(format!("{:.2}", v / 10f64.powi(k))).as_str() {
                m @ ("1" | "-1") => format!("{}10{power}", m.trim_end_matches('1')),
                m => format!("{m}×10{power}"),
            }
        }
    };
    s.replace('-', "−")
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

fn drawable(scale: Scale, v: f64) -> bool {
    v.is_finite() && (scale != Scale::Log10 || v > 0.0)
}

/// Splits points into runs of drawable ones.
fn runs<T: Copy>(items: impl IntoIterator<Item = T>, ok: impl Fn(&T) -> bool) -> Vec<Vec<T>> {
    let mut out = vec![Vec::new()];
    for it in items {
        match (ok(&it), out.last_mut()) {
            (true, Some(run)) => run.push(it),
            (false, Some(run)) if !run.is_empty() => out.push(Vec::new()),
            _ => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// An axis' range from its drawable data: linear x tight, else with 5 % margins (in the axis'
/// own scale).
fn data_range(p: &Panel, x_axis: bool) -> Result<(f64, f64), PlotError> {
    let (scale, axis) = [(p.y.scale, "y"), (p.x.scale, "x")][usize::from(x_axis)];
    let bad = |m: String| Err(PlotError::Invalid(format!("panel `{}`: {m}", p.title)));
    let series = p.series.iter().map(|s| if x_axis { &s.x } else { &s.y });
    let lower = p.bands.iter().map(|b| if x_axis { &b.x } else { &b.lower });
    let upper = p.bands.iter().map(|b| &b.upper).filter(|_| !x_axis);
    let all = series.chain(lower).chain(upper);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in all.flatten().filter(|v| drawable(scale, **v)) {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    let pad = |a: f64, b: f64| match b > a {
        true => (a - (b - a) * 0.05, b + (b - a) * 0.05),
        false => (a - a.abs().max(1.0) * 0.1, b + a.abs().max(1.0) * 0.1),
    };
    match scale {
        _ if lo > hi => return bad(format!("no drawable {axis} value")),
        Scale::Linear if x_axis && hi > lo => return Ok((lo, hi)),
        Scale::Asinh(w) if !(w > 0.0 && w < f64::INFINITY) => {
            return bad(format!("asinh width {w}"))
        }
        _ => {}
    }
    let (f, g) = transform(scale);
    let (a, b) = pad(f(lo), f(hi));
    Ok((g(a), g(b)))
}

/// An axis scale's transform to its linear drawing coordinate and back.
fn transform(scale: Scale) -> (impl Fn(f64) -> f64, impl Fn(f64) -> f64) {
    let f = move |v: f64| match scale {
        Scale::Linear => v,
        Scale::Log10 => v.log10(),
        Scale::Asinh(w) => (v / w).asinh(),
    };
    let g = move |v: f64| match scale {
        Scale::Linear => v,
        Scale::Log10 => 10f64.powf(v),
        Scale::Asinh(w) => w * v.sinh(),
    };
    (f, g)
}

fn check(fig: &Figure) -> Result<(), PlotError> {
    let ((rows, cols), n) = (fig.grid, fig.panels.len());
    let bad = |m: String| Err(PlotError::Invalid(m));
    if n == 0 || n > rows * cols {
        return bad(format!("{n} panels do not fit a {rows}x{cols} grid"));
    }
    for p in &fig.panels {
        let lens = |l, x: &Vec<f64>, y: &Vec<f64>, z: &Vec<f64>| (l, x.len(), [y.len(), z.len()]);
        let series = p.series.iter().map(|s| lens(&s.label, &s.x, &s.y, &s.y));
        let bands = p
            .bands
            .iter()
            .map(|b| lens(&b.label, &b.x, &b.lower, &b.upper));
        if let Some((label, x, y)) = series.chain(bands).find(|(_, x, y)| y != &[*x; 2]) {
            let (t, l) = (&p.title, label.as_deref().unwrap_or("unlabelled"));
            return bad(format!("panel `{t}`: `{l}` has {x} x but {y:?} y values"));
        }
        data_range(p, true).and(data_range(p, false))?;
    }
    Ok(())
}

/// plotters' log axis with ticks at round values (its own begin at the first whole decade).
fn log_axis(lo: f64, hi: f64) -> WithKeyPoints<LogCoord<f64>> {
    let ticks = round_ticks(lo, hi, lo.log10().floor() as i32, 3, 8);
    (lo..hi).log_scale().with_key_points(ticks)
}

/// Draws one panel on `x` × `y` coordinates.
fn chart<DB: DrawingBackend, X, Y>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    (x, x_size): (X, f64),
    (y, y_size): (Y, f64),
) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut c = ChartBuilder::on(area)
        .caption(&p.title, font(19.0))
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(x, y)
        .map_err(e)?;
    let (x_desc, y_desc) = (axis_description(&p.x), axis_description(&p.y));
    c.configure_mesh()
        .x_desc(&x_desc)
        .y_desc(&y_desc)
        .x_labels(7)
        .y_labels(8)
        .x_label_formatter(&|v| tick_label(snap(*v, x_size)))
        .y_label_formatter(&|v| tick_label(snap(*v, y_size)))
        .label_style(font(14.0))
        .axis_desc_style(font(16.0))
        .bold_line_style(BLACK.mix(0.1))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(e)?;
    let ok = |&(a, b): &(f64, f64)| drawable(p.x.scale, a) && drawable(p.y.scale, b);
    for b in &p.bands {
        let fill = b.color.mix(b.alpha).filled();
        let cols = b.x.iter().zip(b.lower.iter().zip(&b.upper));
        let cols = cols.map(|(x, (l, u))| (*x, *l, *u));
        let runs = runs(cols, |&(x, l, u)| ok(&(x, l)) && ok(&(x, u)));
        for (i, run) in runs.iter().enumerate() {
            let lower = run.iter().rev().map(|&(x, l, _)| (x, l));
            let outline: Vec<_> = run.iter().map(|&(x, _, u)| (x, u)).chain(lower).collect();
            let anno = c.draw_series([Polygon::new(outline, fill)]).map_err(e)?;
            if let (0, Some(label)) = (i, &b.label) {
                let key = move |(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], fill);
                anno.label(label).legend(key);
            }
        }
    }
    for s in &p.series {
        let (color, key) = (s.color.mix(s.alpha), s.color.mix(s.alpha.max(0.6)));
        let (st, ks) = (move |w| color.stroke_width(w), move |w| key.stroke_width(w));
        let points = s.x.iter().copied().zip(s.y.iter().copied());
        for (i, run) in runs(points, ok).into_iter().enumerate() {
            if let (true, Mark::Line(w) | Mark::Dashed(w)) = (s.outline, s.mark) {
                let halo = WHITE.stroke_width(w + 4);
                c.draw_series(LineSeries::new(run.iter().copied(), halo))
                    .map_err(e)?;
            }
            let anno = match (s.mark, run.into_iter()) {
                (Mark::Line(w), r) => c.draw_series(LineSeries::new(r, st(w))),
                (Mark::Dashed(w), r) => c.draw_series(DashedLineSeries::new(r, 6, 4, st(w))),
                (Mark::Crosses(n), r) => c.draw_series(r.map(|q| Cross::new(q, n, st(2)))),
                (Mark::Dots(n), r) => c.draw_series(r.map(|q| Circle::new(q, n, color.filled()))),
            }
            .map_err(e)?;
            let label = s.label.as_ref().filter(|_| i == 0);
            let Some(label) = label else { continue };
            let (anno, line) = (anno.label(label), [(0, 0), (24, 0)]);
            let at = move |(x, y): (i32, i32)| line.map(|(dx, dy)| (x + dx, y + dy));
            match s.mark {
                Mark::Line(w) => anno.legend(move |p| PathElement::new(at(p), ks(w.max(2)))),
                Mark::Dashed(w) => anno.legend(move |p| DashedPathElement::new(at(p), 6, 4, ks(w))),
                Mark::Crosses(n) => anno.legend(move |(x, y)| Cross::new((x + 12, y), n, ks(2))),
                Mark::Dots(n) => {
                    anno.legend(move |(x, y)| Circle::new((x + 12, y), n + 1, key.filled()))
                }
            };
        }
    }
    if let Some(preferred) = p.legend.clone() {
        let labels = p.bands.iter().map(|b| &b.label);
        let labels: Vec<&str> = labels
            .chain(p.series.iter().map(|s| &s.label))
            .filter_map(|l| l.as_deref())
            .collect();
        let (w, h) = legend_size(&labels).map_err(|e| e.to_string())?;
        let (xr, yr) = c.plotting_area().get_pixel_range();
        let area = ((xr.end - xr.start) as u32, (yr.end - yr.start) as u32);
        let points = obstacles(p, |q| {
            let (x, y) = c.backend_coord(&q);
            ((x - xr.start) as f64, (y - yr.start) as f64)
        });
        let (x, y) = legend_place(&points, (w, h), area, &preferred);
        c.configure_series_labels()
            .position(LegendPos::Coordinate(x, y))
            .margin(LEGEND_MARGIN as u32)
            .legend_area_size(LEGEND_KEY as u32)
            .label_font(font(14.0))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// An axis' description, naming a scale that is not linear or log10 (whose ticks show it).
fn axis_description(axis: &Axis) -> String {
    match axis.scale {
        Scale::Asinh(1.0) => format!("{} (asinh scale)", axis.label),
        Scale::Asinh(w) => format!("{} (asinh scale, width {})", axis.label, tick_label(w)),
        _ => axis.label.clone(),
    }
}

/// The legend box's size in pixels, as plotters lays it out (labels, key area, margins).
fn legend_size(labels: &[&str]) -> Result<(i32, i32), String> {
    let style = font(14.0);
    let mut text = MultiLineText::<_, &str>::new((0, 0), &style);
    for l in labels {
        text.push_line(*l);
    }
    let (w, h) = text.estimate_dimension().map_err(|e| e.to_string())?;
    Ok((w + LEGEND_KEY + 2 * LEGEND_MARGIN, h + 2 * LEGEND_MARGIN))
}

const LEGEND_KEY: i32 = 30;
const LEGEND_MARGIN: i32 = 6;

/// Where a legend box of `size` pixels goes inside a plotting area of `area` pixels: the corner
/// or edge midpoint whose box covers the least weight of the data `points` (pixel coordinates in
/// the area, with weights), the `preferred` position among equals.
pub fn legend_place(
    points: &[((f64, f64), f64)],
    size: (i32, i32),
    area: (u32, u32),
    preferred: &LegendPos,
) -> (i32, i32) {
    use LegendPos::*;
    let at = |pos: &LegendPos| {
        let (w, h) = (area.0 as i32, area.1 as i32);
        let x = match pos {
            UpperLeft | MiddleLeft | LowerLeft => 5,
            UpperMiddle | MiddleMiddle | LowerMiddle => (w - size.0) / 2,
            UpperRight | MiddleRight | LowerRight => w - size.0 - 5,
            Coordinate(x, _) => *x,
        };
        let y = match pos {
            UpperLeft | UpperMiddle | UpperRight => 5,
            MiddleLeft | MiddleMiddle | MiddleRight => (h - size.1) / 2,
            LowerLeft | LowerMiddle | LowerRight => h - size.1 - 5,
            Coordinate(_, y) => *y,
        };
        (x, y)
    };
    let covered = |(x, y): (i32, i32)| -> f64 {
        let (x0, y0) = (x as f64 - 4.0, y as f64 - 4.0);
        let (x1, y1) = (x0 + size.0 as f64 + 8.0, y0 + size.1 as f64 + 8.0);
        let inside =
            |&&((px, py), _): &&((f64, f64), f64)| px >= x0 && px <= x1 && py >= y0 && py <= y1;
        points.iter().filter(inside).map(|(_, w)| w).sum()
    };
    let candidates = [
        preferred.clone(),
        UpperRight,
        UpperLeft,
        LowerRight,
        LowerLeft,
        UpperMiddle,
        LowerMiddle,
        MiddleRight,
        MiddleLeft,
    ];
    let mut best = (f64::INFINITY, at(preferred));
    for pos in &candidates {
        let xy = at(pos);
        let cost = covered(xy);
        if cost < best.0 {
            best = (cost, xy);
        }
    }
    best.1
}

/// A tick value that is rounding noise next to the axis' size (−0.2 + 0.2 = 5.6e-17) as 0.
fn snap(v: f64, size: f64) -> f64 {
    if v.abs() < 1e-9 * size {
        0.0
    } else {
        v
    }
}

/// Draws one panel with the coordinates of its scales.
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
    let range = |x_axis| data_range(p, x_axis).map_err(|e| e.to_string());
    let ((x0, x1), (y0, y1)) = (range(true)?, range(false)?);
    let y1 = headroom(p, area.dim_in_pixel(), (x0, x1), (y0, y1))?;
    let (xs, ys) = (x0.abs().max(x1.abs()), y0.abs().max(y1.abs()));
    macro_rules! with_y {
        ($x:expr) => {
            match p.y.scale {
                Scale::Linear => chart(area, p, ($x, xs), (y0..y1, ys)),
                Scale::Log10 => chart(area, p, ($x, xs), (log_axis(y0, y1), ys)),
                Scale::Asinh(w) => chart(area, p, ($x, xs), (AsinhCoord::new(y0, y1, w), ys)),
            }
        };
    }
    match p.x.scale {
        Scale::Linear => with_y!(x0..x1),
        Scale::Log10 => with_y!(log_axis(x0, x1)),
        Scale::Asinh(w) => with_y!(AsinhCoord::new(x0, x1, w)),
    }
}

/// The data a legend box should not cover, in the pixel coordinates `to_px` gives: points of lines
/// (each segment sampled at 8 points, so that a line through the box counts) and marks (three
/// times as much), weighted by their opacity (many faint traces count like a few lines), and band
/// edges (weight 0.3).
fn obstacles(p: &Panel, to_px: impl Fn((f64, f64)) -> (f64, f64)) -> Vec<((f64, f64), f64)> {
    let ok = |&(a, b): &(f64, f64)| drawable(p.x.scale, a) && drawable(p.y.scale, b);
    let mut points = Vec::new();
    let mut add = |pts: &[(f64, f64)], weight: f64| {
        for pair in pts.windows(2).filter(|q| ok(&q[0]) && ok(&q[1])) {
            let (a, b) = (to_px(pair[0]), to_px(pair[1]));
            for k in 0..8 {
                let t = k as f64 / 8.0;
                points.push(((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)), weight));
            }
        }
        if let Some(&last) = pts.last().filter(|q| ok(q)) {
            points.push((to_px(last), weight));
        }
    };
    for s in &p.series {
        let pts: Vec<(f64, f64)> = s.x.iter().copied().zip(s.y.iter().copied()).collect();
        match s.mark {
            Mark::Line(_) | Mark::Dashed(_) => add(&pts, s.alpha),
            // Marks are not joined: each point counts, with the size of its mark.
            Mark::Crosses(_) | Mark::Dots(_) => {
                for q in &pts {
                    add(&[*q], 3.0 * s.alpha);
                }
            }
        }
    }
    for b in &p.bands {
        let edge = |v: &[f64]| {
            b.x.iter()
                .copied()
                .zip(v.iter().copied())
                .collect::<Vec<_>>()
        };
        add(&edge(&b.lower), 0.3);
        add(&edge(&b.upper), 0.3);
    }
    points
}

/// The top of the y axis: `y1`, or higher when the legend would cover data wherever it goes
/// inside the panel, so that a strip above the data holds it (estimated from the panel's size
/// and the layout of `chart`: caption, label areas and margins).
fn headroom(
    p: &Panel,
    (w, h): (u32, u32),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<f64, String> {
    let Some(preferred) = &p.legend else {
        return Ok(y1);
    };
    let labels = p.bands.iter().map(|b| &b.label);
    let labels: Vec<&str> = labels
        .chain(p.series.iter().map(|s| &s.label))
        .filter_map(|l| l.as_deref())
        .collect();
    let (lw, lh) = legend_size(&labels)?;
    let plot = ((w as f64 - 82.0).max(1.0), (h as f64 - 87.0).max(1.0));
    let ((fx, _), (fy, gy)) = (transform(p.x.scale), transform(p.y.scale));
    let (tx0, tx1, ty0, ty1) = (fx(x0), fx(x1), fy(y0), fy(y1));
    let to_px = |(x, y): (f64, f64)| {
        let u = (fx(x) - tx0) / (tx1 - tx0);
        let v = (ty1 - fy(y)) / (ty1 - ty0);
        (u * plot.0, v * plot.1)
    };
    let points = obstacles(p, to_px);
    let area = (plot.0 as u32, plot.1 as u32);
    let at = legend_place(&points, (lw, lh), area, preferred);
    let covered = points.iter().any(|&((px, py), _)| {
        let (x, y) = (at.0 as f64 - 4.0, at.1 as f64 - 4.0);
        px >= x && px <= x + lw as f64 + 8.0 && py >= y && py <= y + lh as f64 + 8.0
    });
    let strip = lh as f64 + 16.0;
    if !covered || strip * 2.0 >= plot.1 {
        return Ok(y1);
    }
    // The data keep their pixels below a strip of the legend's height (and a margin).
    Ok(gy(ty1 + (ty1 - ty0) * strip / (plot.1 - strip)))
}

/// The figure's size in pixels.
pub fn size(fig: &Figure) -> (u32, u32) {
    let ((rows, cols), (w, h)) = (fig.grid, fig.panel_size);
    let title = if fig.title.is_some() { 40 } else { 0 };
    (w * cols as u32, h * rows as u32 + title)
}

/// The figure as an SVG document.
pub fn to_svg(fig: &Figure) -> Result<String, PlotError> {
    check(fig)?;
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, size(fig)).into_drawing_area();
    let draw = || -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let area = match &fig.title {
            Some(t) => root.titled(t, font(22.0)).map_err(|e| e.to_string())?,
            None => root.clone(),
        };
        for (p, cell) in fig.panels.iter().zip(area.split_evenly(fig.grid)) {
            draw_panel(&cell, p)?;
        }
        root.present().map_err(|e| e.to_string())
    };
    let drawn = draw().map_err(|e| PlotError::Draw(format!("drawing the SVG: {e}")));
    drop(root);
    drawn.map(|()| svg)
}

/// Rasterizes an SVG to PNG bytes with resvg, the bundled font its only one.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, String> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let fontdb = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    });
    let mut opt = usvg::Options::default();
    (opt.font_family, opt.fontdb) = ("DejaVu Sans".into(), fontdb.clone());
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty image")?;
    let mut target = pixmap.as_mut();
    resvg::render(&tree, tiny_skia::Transform::identity(), &mut target);
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// Writes `stem.png` and/or `stem.svg` (atomically, as one unit); returns their paths.
pub fn render(fig: &Figure, stem: &Path, format: Format) -> Result<Vec<PathBuf>, PlotError> {
    let svg = to_svg(fig)?;
    let mut files = Vec::new();
    if format != Format::Svg {
        let png = svg_to_png(&svg).map_err(|e| PlotError::Draw(format!("rasterizing: {e}")))?;
        files.push((stem.with_extension("png"), png));
    }
    if format != Format::Png {
        files.push((stem.with_extension("svg"), svg.into_bytes()));
    }
    crate::io::write_all_atomic(&files).map_err(|e| PlotError::Draw(e.to_string()))?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_noise_ticks_read_zero() {
        // plotters' linear key points on [−0.3, 1]: −0.2 + 0.2 = 5.55e-17 was labelled 5.55×10⁻¹⁷
        assert_eq!(tick_label(snap(-0.2 + 0.2 - 2.7e-17, 1.0)), "0");
        assert_eq!(tick_label(snap(1e-12, 1e-11)), "10⁻¹²");
        assert_eq!(tick_label(snap(0.2, 1.0)), "0.2");
    }

    #[test]
    fn asinh_axis_round_trips_and_ticks_at_round_values() {
        let a = AsinhCoord::new(-20.0, 2e4, 1.0);
        let limit = (1_000_000, 0); // y axes run upwards
        for v in [-20.0, -1.0, 0.0, 0.5, 10.0, 1e4, 2e4] {
            let back = a.unmap(a.map(&v, limit), limit).unwrap();
            assert!((back - v).abs() <= 1e-4 * v.abs().max(1.0), "{v} -> {back}");
        }
        assert_eq!(a.map(&-20.0, limit), 1_000_000);
        assert_eq!(a.map(&2e4, limit), 0);
        assert_eq!(
            a.key_points(12),
            vec![-10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1e3, 1e4]
        );
        // fewer allowed: every other decade
        assert_eq!(a.key_points(5), vec![-1.0, 0.0, 1.0, 100.0, 1e4]);
        // a narrow range gets 2·10^k and 5·10^k too, a very narrow one linear ticks
        assert_eq!(
            AsinhCoord::new(-0.5, 30.0, 1.0).key_points(10),
            vec![0.0, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
        let linear = AsinhCoord::new(0.1, 0.5, 1.0).key_points(10);
        assert!(
            linear.len() >= 3 && linear.iter().all(|v| (0.1..=0.5).contains(v)),
            "{linear:?}"
        );
        let labels: Vec<String> = [
            0.0,
            -3.0,
            2.5,
            0.6000000000000001,
            1000.0,
            1e4,
            1e-6,
            -2e5,
            0.001,
        ]
        .iter()
        .map(|v| tick_label(*v))
        .collect();
        assert_eq!(
            labels,
            [
                "0",
                "−3",
                "2.5",
                "0.6",
                "1000",
                "10⁴",
                "10⁻⁶",
                "−2×10⁵",
                "0.001"
            ]
        );
    }

    /// 1×2: an asinh-y panel with a band, crosses and a dashed line with a point at +∞; a
    /// log–log panel with dots.
    fn demo() -> Figure {
        let x: Vec<f64> = (0..50).map(|i| -3.0 + 6.0 * i as f64 / 49.0).collect();
        let mut a = Panel::new("asinh panel", "Δα", "σ ± 2");
        a.legend = Some(LegendPos::UpperRight);
        a.y.scale = Scale::Asinh(1.0);
        a.bands.push(Band {
            label: Some("band ±2σ".into()),
            x: x.clone(),
            lower: x.iter().map(|v| v.sin() - 1.0).collect(),
            upper: x.iter().map(|v| v.sin() + 1.0).collect(),
            color: RGBColor(170, 170, 170),
            alpha: 0.5,
        });
        let bump: Vec<f64> = x.iter().map(|v| 100.0 * (-v * v).exp()).collect();
        a.series.push(Series::line(
            Some("kernel".into()),
            &x,
            &bump,
            RGBColor(31, 119, 180),
            1.0,
        ));
        let mut analytic: Vec<f64> = x.iter().map(|v| 1.0 / v.abs().max(1e-3)).collect();
        analytic[25] = f64::INFINITY;
        a.series.push(
            Series::line(Some("analytic".into()), &x, &analytic, BLACK, 1.0).mark(Mark::Dashed(2)),
        );
        a.series.push(Series::crosses(
            "training points",
            &[-1.0, 0.5],
            &[0.2, 0.4],
        ));
        let mut b = Panel::new("log panel", "width n", "MSE");
        b.legend = Some(LegendPos::LowerLeft);
        (b.x.scale, b.y.scale) = (Scale::Log10, Scale::Log10);
        let dots = Series::line(
            Some("mse".into()),
            &[10.0, 100.0, 1000.0],
            &[1.0, 0.1, 0.01],
            RED,
            0.8,
        );
        b.series.push(dots.mark(Mark::Dots(3)));
        Figure {
            title: Some("demo Σ".into()),
            grid: (1, 2),
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
        let fig = demo();
        let files = render(&fig, &dir.join("demo"), Format::Both).unwrap();
        assert_eq!(files, vec![dir.join("demo.png"), dir.join("demo.svg")]);
        let png = tiny_skia::Pixmap::decode_png(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!((png.width(), png.height()), size(&fig));
        assert_eq!(size(&fig), (960, 400));
        // text was drawn: some pixels are dark
        assert!(
            png.pixels()
                .iter()
                .filter(|p| p.red() < 80 && p.alpha() == 255)
                .count()
                > 500
        );
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        for text in [
            "asinh panel",
            "log panel",
            "training points",
            "band ±2σ",
            "demo Σ",
            "Δα",
            "0.01",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        let only = render(&fig, &dir.join("only"), Format::Svg).unwrap();
        assert_eq!(only, vec![dir.join("only.svg")]);
        assert!(!dir.join("only.png").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A legend goes to the place where it covers no data; when every place inside the panel
    /// would cover some, the y axis grows a strip above the data for it.
    #[test]
    fn legends_avoid_the_data() {
        // Data fill the upper half of a 400 × 400 area: the legend goes to the lower half.
        let upper: Vec<_> = (0..100)
            .flat_map(|i| (0..50).map(move |j| ((i as f64 * 4.0, j as f64 * 4.0), 1.0)))
            .collect();
        let at = legend_place(&upper, (100, 60), (400, 400), &LegendPos::UpperRight);
        assert!(at.1 > 200, "{at:?}");
        // A preferred place that is free is kept.
        let at = legend_place(&upper, (100, 60), (400, 400), &LegendPos::LowerLeft);
        assert_eq!(at, (5, 400 - 60 - 5));
        // Horizontal lines from y = 0 to 10 fill a panel: headroom above y = 10; lines only in
        // the lower half leave a free corner and the axis as it was.
        let x: Vec<f64> = (0..50).map(|i| i as f64 / 49.0).collect();
        let panel = |levels: &[f64]| {
            let mut p = Panel::new("p", "x", "y");
            for &c in levels {
                let y = vec![c; x.len()];
                p.series
                    .push(Series::line(Some(format!("{c}")), &x, &y, BLACK, 1.0));
            }
            p.legend = Some(LegendPos::UpperRight);
            p
        };
        let full: Vec<f64> = (0..=40).map(|k| k as f64 / 4.0).collect();
        let top = headroom(&panel(&full[..3]), (600, 400), (0.0, 1.0), (0.0, 10.0)).unwrap();
        assert_eq!(top, 10.0);
        let mut crowded = panel(&full);
        crowded.series.truncate(41);
        for s in crowded.series.iter_mut().skip(1) {
            s.label = None;
        }
        let top = headroom(&crowded, (600, 400), (0.0, 1.0), (0.0, 10.0)).unwrap();
        assert!(top > 11.0, "{top}");
    }

    #[test]
    fn bad_figures_are_errors() {
        let invalid = |f: &Figure, want: &str| match to_svg(f) {
            Err(PlotError::Invalid(e)) => assert!(e.contains(want), "{e}"),
            other => panic!("{other:?}"),
        };
        let mut f = demo();
        f.grid = (1, 1);
        invalid(&f, "2 panels do not fit a 1x1 grid");
        let mut f = demo();
        f.panels[0].series[0].y.pop();
        invalid(&f, "`kernel` has 50 x but [49, 49] y values");
        let mut f = demo();
        f.panels[1].series[0].y = vec![-1.0, f64::NAN, 0.0];
        invalid(&f, "panel `log panel`: no drawable y value");
        let mut f = demo();
        f.panels[0].y.scale = Scale::Asinh(0.0);
        invalid(&f, "asinh width 0");
        let dir = scratch("errors");
        let blocked = dir.join("file");
        std::fs::write(&blocked, b"").unwrap();
        let err = render(&demo(), &blocked.join("x"), Format::Both).unwrap_err();
        assert!(matches!(err, PlotError::Draw(_)), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

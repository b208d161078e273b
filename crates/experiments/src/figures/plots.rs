//! The figures' layouts, drawn with [`crate::plot`]: which curves, colours, scales and legend
//! corners; plotters does the layout.

use super::kernels::{cell_mses, KernelCell, KernelData};
use super::regression::{RegressionData, WidthResult};
use super::snn::{mean_and_std, SnnWidth};
use crate::plot::{Band, Figure, LegendPos, Mark, Panel, RGBColor, Scale, Series};
use crate::settings::SnnFigure;

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const BLACK: RGBColor = RGBColor(0, 0, 0);
const GREY: RGBColor = RGBColor(120, 120, 120);
const RED: RGBColor = RGBColor(214, 39, 40);
const PALETTE: [RGBColor; 5] = [BLUE, ORANGE, GREEN, RED, RGBColor(148, 103, 189)];

/// An opaque labelled series.
fn line(label: &str, x: &[f64], y: &[f64], color: RGBColor, mark: Mark) -> Series {
    Series::line(Some(label.into()), x, y, color, 1.0).mark(mark)
}

/// One faint line per network (more networks, fainter lines), the first one labelled.
fn networks(label: &str, x: &[f64], ys: &[Vec<f64>], color: RGBColor, max: f64) -> Vec<Series> {
    let alpha = (3.0 / ys.len().max(1) as f64).clamp(0.04, max);
    let line = |(k, y): (usize, &Vec<f64>)| {
        Series::line((k == 0).then(|| label.into()), x, y, color, alpha)
    };
    ys.iter().enumerate().map(line).collect()
}

/// Fig. 1/2: one panel per (m, n), asinh y axis, the legend in the first panel.
pub(crate) fn kernel_slices(d: &KernelData) -> Figure {
    let (s, x, name) = (&d.settings, &d.grid, if d.sgl { "SG-NTK" } else { "NTK" });
    let panel = |(i, c): (usize, &KernelCell)| {
        let title = format!("m = {}, n = {}", c.m, c.width);
        let mut p = Panel::new(title, "Δα", &format!("empirical {name}"));
        p.y.scale = Scale::Asinh(1.0);
        p.series = networks("t = 0", x, &c.init, BLUE, 0.6);
        let t = format!("t = {}", s.steps);
        p.series.extend(networks(&t, x, &c.trained, ORANGE, 0.6));
        let limit = line("m → ∞", x, &d.limit, GREY, Mark::Line(1));
        let analytic = format!("analytic {name}");
        let analytic = line(&analytic, x, &c.analytic, BLACK, Mark::Dashed(2));
        p.series.extend([limit, analytic]);
        p.legend = (i == 0).then_some(LegendPos::LowerMiddle);
        p
    };
    let (rule, t, nets) = (if d.sgl { "SGL" } else { "GD" }, s.steps, s.nets);
    let title = format!(
        "Empirical {name} at t = 0 and t = {t} ({rule}) vs analytic, {nets} nets per panel"
    );
    let panels = d.cells.iter().enumerate().map(panel).collect();
    let grid = (s.ms.len(), s.widths.len());
    Figure::new(Some(title), grid, (420, 320), panels)
}

/// Fig. B.3/B.4: MSE vs width (log–log), one panel per m.
pub(crate) fn kernel_mse(d: &KernelData) -> Figure {
    let (s, name) = (&d.settings, if d.sgl { "SG-NTK" } else { "NTK" });
    let last = s.recorded_steps().len() - 1;
    let panel = |(i, &m): (usize, &f64)| {
        let y_label = format!("MSE to analytic {name}");
        let mut p = Panel::new(format!("m = {m}"), "width n", &y_label);
        (p.x.scale, p.y.scale) = (Scale::Log10, Scale::Log10);
        let stages = [(0, BLUE, Mark::Line(2)), (last, ORANGE, Mark::Dashed(2))];
        for (stage, color, mark) in stages {
            let (mut xs, mut ys, mut mx, mut my) = (vec![], vec![], vec![], vec![]);
            for c in d.cells.iter().filter(|c| c.m == m) {
                let (per_net, _) = cell_mses(c, stage);
                xs.extend(per_net.iter().map(|_| c.width as f64));
                ys.extend(&per_net);
                mx.push(c.width as f64);
                my.push(per_net.iter().sum::<f64>() / per_net.len() as f64);
            }
            let t = if stage == 0 { 0 } else { s.steps };
            let dots = Series::line(Some(format!("t = {t}, per net")), &xs, &ys, color, 0.5);
            let mean = line(&format!("t = {t}, mean"), &mx, &my, color, mark);
            p.series.extend([dots.mark(Mark::Dots(3)), mean]);
        }
        p.legend = (i == 0).then_some(LegendPos::LowerLeft);
        p
    };
    let title = format!("MSE between empirical and analytic {name} vs width");
    let panels = s.ms.iter().enumerate().map(panel).collect();
    Figure::new(Some(title), (1, s.ms.len()), (440, 360), panels)
}

/// Fig. 3a / B.2 (every network, one panel per width) and Fig. 3b (ensemble means, one panel).
pub(crate) fn regression(d: &RegressionData, means_only: bool) -> Figure {
    let (s, x) = (&d.settings, &d.grid);
    let gp = d.gp_mean.iter().zip(&d.gp_std);
    let two_std = |k: f64| gp.clone().map(|(m, s)| m + k * s).collect();
    let panel = |title: String, curves: Vec<Series>| {
        let mut p = Panel::new(title, "α", "f(x(α))");
        p.bands.push(Band {
            label: Some("GP mean ± 2 std".into()),
            x: x.clone(),
            lower: two_std(-2.0),
            upper: two_std(2.0),
            color: RGBColor(170, 170, 170),
            alpha: 0.45,
        });
        p.series = curves;
        let gp = line("SG-NTK GP mean", x, &d.gp_mean, BLACK, Mark::Dashed(2));
        let train = Series::crosses("training points", &d.train.0, &d.train.1);
        p.series.extend([gp, train]);
        p.legend = Some(LegendPos::LowerRight);
        p
    };
    let panels: Vec<Panel> = if means_only {
        let title = format!("ensemble means ({} nets each)", s.nets);
        let colors = PALETTE.iter().cycle();
        let mean = |(w, c): (&WidthResult, &RGBColor)| {
            line(&format!("n = {}", w.width), x, &w.mean, *c, Mark::Line(2))
        };
        let means = d.widths.iter().zip(colors).map(mean).collect();
        vec![panel(title, means)]
    } else {
        let width = |w: &WidthResult| {
            let mut curves = networks("networks", x, &w.outputs, BLUE, 0.15);
            let mean = line("ensemble mean", x, &w.mean, BLUE, Mark::Line(3));
            let sigma = &d.sigma_regression;
            let sigma = line("Σ kernel regression", x, sigma, GREEN, Mark::Line(2));
            curves.extend([mean, sigma]);
            let (n, nets, t, kappa) = (w.width, w.outputs.len(), s.steps, s.kappa);
            let title = format!("n = {n}, {nets} nets, t = {t}, κ = {kappa}");
            panel(title, curves)
        };
        d.widths.iter().map(width).collect()
    };
    let (act, sur) = (&s.activation, &s.surrogate);
    let title = format!("{act} networks, SGL with surrogate {sur} vs the SG-NTK GP");
    Figure::new(Some(title), (1, panels.len()), (760, 500), panels)
}

/// Fig. B.1: the target and the training points.
pub(crate) fn target(x: &[f64], y: &[f64], xt: &[f64], yt: &[f64]) -> Figure {
    let mut p = Panel::new("target f(x(α)) on the unit circle", "α", "f");
    let target = line("target", x, y, BLUE, Mark::Line(2));
    let train = Series::crosses("training points", xt, yt);
    p.series.extend([target, train]);
    p.legend = Some(LegendPos::UpperLeft);
    Figure::new(None, (1, 1), (640, 420), vec![p])
}

/// `figure snn`: per width, the kernel slices (mean ± std over networks at t = 0 and after
/// training) and the trained networks.
pub(crate) fn snn(
    s: &SnnFigure,
    widths: &[SnnWidth],
    x: &[f64],
    target: &[f64],
    train: &(Vec<f64>, Vec<f64>),
) -> Figure {
    let mut panels = Vec::new();
    for (i, w) in widths.iter().enumerate() {
        let (n, t) = (w.width, s.time_steps);
        let mut k = Panel::new(format!("n = {n}, T = {t}"), "Δα", "K(x(Δα), x(0))");
        let trained = format!("t = {}", s.steps);
        let stages = [
            ("t = 0", &w.init, BLUE),
            (trained.as_str(), &w.trained, ORANGE),
        ];
        for (stage, curves, color) in stages {
            let (mean, std) = mean_and_std(curves);
            let (lower, upper) = mean.iter().zip(&std).map(|(m, s)| (m - s, m + s)).unzip();
            let label = Some(format!("{stage}: mean ± std"));
            let x = x.to_vec();
            k.bands.push(Band {
                label,
                x: x.clone(),
                lower,
                upper,
                color,
                alpha: 0.25,
            });
            k.series
                .push(Series::line(None, &x, &mean, color, 1.0).mark(Mark::Line(2)));
        }
        k.legend = (i == 0).then_some(LegendPos::LowerMiddle);
        let mut f = Panel::new(format!("trained networks, n = {n}"), "α", "f(x(α))");
        f.series = networks("networks", x, &w.outputs, BLUE, 0.35);
        f.series
            .push(line("target", x, target, BLACK, Mark::Dashed(2)));
        f.series
            .push(Series::crosses("training points", &train.0, &train.1));
        f.legend = (i == 0).then_some(LegendPos::LowerRight);
        panels.extend([k, f]);
    }
    let (b, th, sur, t, nets) = (s.beta, s.theta, s.surrogate, s.steps, s.nets);
    let title = format!(
        "LIF networks (β = {b}, θ = {th}): SG-NTK slices and SGL through time with {sur}, {t} steps, {nets} nets"
    );
    Figure::new(Some(title), (widths.len(), 2), (520, 360), panels)
}

//! The figures' layouts, drawn with [`crate::plot`]: PNG and SVG next to each other.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use super::kernels::{cell_mses, KernelData};
use super::regression::RegressionData;
use crate::error::ExpError;
use crate::plot::{render, Band, Figure, Mark, Panel, Scale, Series};

const BLUE: (u8, u8, u8) = (31, 119, 180);
const ORANGE: (u8, u8, u8) = (255, 127, 14);
const GREEN: (u8, u8, u8) = (44, 160, 44);
const RED: (u8, u8, u8) = (214, 39, 40);
const PURPLE: (u8, u8, u8) = (148, 103, 189);
const BLACK: (u8, u8, u8) = (0, 0, 0);
const GREY: (u8, u8, u8) = (120, 120, 120);
const PALETTE: [(u8, u8, u8); 5] = [BLUE, ORANGE, GREEN, RED, PURPLE];

fn crosses(label: &str, x: &[f64], y: &[f64]) -> Series {
    Series::crosses(label, x, y, BLACK, 6)
}

fn draw(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>, ExpError> {
    render(fig, stem).map_err(|e| ExpError::output(stem, e))
}

/// Faint lines for many networks: more networks, fainter lines.
fn net_alpha(n: usize) -> f64 {
    (3.0 / n.max(1) as f64).clamp(0.04, 0.6)
}

/// Fig. 1/2: one panel per (m, n), asinh y-axis.
pub(crate) fn kernel_slices(d: &KernelData, stem: &Path) -> Result<Vec<PathBuf>, ExpError> {
    let s = &d.settings;
    let name = if d.sgl { "SG-NTK" } else { "NTK" };
    let mut panels = Vec::new();
    for (i, c) in d.cells.iter().enumerate() {
        let mut p = Panel::new(
            format!("m = {}, n = {}", c.m, c.width),
            "Δα",
            &format!("empirical {name}"),
        );
        p.x_range = Some((-PI, PI));
        p.y_scale = Scale::Asinh { linear_width: 1.0 };
        let alpha = net_alpha(c.init.len());
        for (k, curve) in c.init.iter().enumerate() {
            let label = (k == 0).then(|| "t = 0".to_string());
            p.series
                .push(Series::line(label, &d.grid, curve, BLUE, alpha, 1, false));
        }
        for (k, curve) in c.trained.iter().enumerate() {
            let label = (k == 0).then(|| format!("t = {}", s.steps));
            p.series
                .push(Series::line(label, &d.grid, curve, ORANGE, alpha, 1, false));
        }
        p.series.push(Series::line(
            Some("m → ∞".into()),
            &d.grid,
            &d.limit,
            GREY,
            1.0,
            1,
            false,
        ));
        p.series.push(Series::line(
            Some(format!("analytic {name}")),
            &d.grid,
            &c.analytic,
            BLACK,
            1.0,
            2,
            true,
        ));
        p.legend = i == 0;
        panels.push(p);
    }
    let fig = Figure {
        title: Some(format!(
            "Empirical {name} at t = 0 and t = {} ({}) vs analytic, {} nets per panel",
            s.steps,
            if d.sgl { "SGL" } else { "GD" },
            s.nets
        )),
        rows: s.ms.len(),
        cols: s.widths.len(),
        panel_size: (420, 320),
        panels,
    };
    draw(&fig, stem)
}

/// Fig. B.3/B.4: MSE vs width (log–log), one panel per m.
pub(crate) fn kernel_mse(d: &KernelData, stem: &Path) -> Result<Vec<PathBuf>, ExpError> {
    let s = &d.settings;
    let name = if d.sgl { "SG-NTK" } else { "NTK" };
    let mut panels = Vec::new();
    for (i, &m) in s.ms.iter().enumerate() {
        let mut p = Panel::new(
            format!("m = {m}"),
            "width n",
            &format!("MSE to analytic {name}"),
        );
        p.x_scale = Scale::Log10;
        p.y_scale = Scale::Log10;
        for (stage, color, t) in [(0, BLUE, 0), (1, ORANGE, s.steps)] {
            let (mut xs, mut ys, mut mx, mut my) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for c in d.cells.iter().filter(|c| c.m == m) {
                let (per_net, _) = cell_mses(c, stage);
                for v in &per_net {
                    xs.push(c.width as f64);
                    ys.push(*v);
                }
                mx.push(c.width as f64);
                my.push(per_net.iter().sum::<f64>() / per_net.len() as f64);
            }
            p.series.push(Series {
                label: Some(format!("t = {t}, per net")),
                x: xs,
                y: ys,
                color,
                alpha: 0.5,
                mark: Mark::Dots { size: 3 },
            });
            p.series.push(Series::line(
                Some(format!("t = {t}, mean")),
                &mx,
                &my,
                color,
                1.0,
                2,
                stage == 1,
            ));
        }
        p.legend = i == 0;
        panels.push(p);
    }
    let fig = Figure {
        title: Some(format!(
            "MSE between empirical and analytic {name} vs width"
        )),
        rows: 1,
        cols: s.ms.len(),
        panel_size: (440, 360),
        panels,
    };
    draw(&fig, stem)
}

fn gp_band(d: &RegressionData) -> Band {
    Band {
        label: Some("GP mean ± 2 std".into()),
        x: d.grid.clone(),
        lower: d
            .gp_mean
            .iter()
            .zip(&d.gp_std)
            .map(|(m, s)| m - 2.0 * s)
            .collect(),
        upper: d
            .gp_mean
            .iter()
            .zip(&d.gp_std)
            .map(|(m, s)| m + 2.0 * s)
            .collect(),
        color: (170, 170, 170),
        alpha: 0.45,
    }
}

/// Fig. 3a / B.2 (every network, one panel per width) and Fig. 3b (ensemble means, one panel).
pub(crate) fn regression(
    d: &RegressionData,
    means_only: bool,
    stem: &Path,
) -> Result<Vec<PathBuf>, ExpError> {
    let s = &d.settings;
    let base = |title: String| {
        let mut p = Panel::new(title, "α", "f(x(α))");
        p.x_range = Some((-PI, PI));
        p.bands.push(gp_band(d));
        p.legend = true;
        p
    };
    let finish = |p: &mut Panel| {
        p.series.push(Series::line(
            Some("SG-NTK GP mean".into()),
            &d.grid,
            &d.gp_mean,
            BLACK,
            1.0,
            2,
            true,
        ));
        p.series
            .push(crosses("training points", &d.train.0, &d.train.1));
    };
    let panels = if means_only {
        let mut p = base(format!("ensemble means ({} nets each)", s.nets));
        for (i, w) in d.widths.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            p.series.push(Series::line(
                Some(format!("n = {}", w.width)),
                &d.grid,
                &w.mean,
                color,
                1.0,
                2,
                false,
            ));
        }
        finish(&mut p);
        vec![p]
    } else {
        d.widths
            .iter()
            .map(|w| {
                let mut p = base(format!(
                    "n = {}, {} nets, t = {}, κ = {}",
                    w.width,
                    w.outputs.len(),
                    s.steps,
                    s.kappa
                ));
                let alpha = net_alpha(w.outputs.len()).min(0.15);
                for (k, o) in w.outputs.iter().enumerate() {
                    let label = (k == 0).then(|| "networks".to_string());
                    p.series
                        .push(Series::line(label, &d.grid, o, BLUE, alpha, 1, false));
                }
                p.series.push(Series::line(
                    Some("ensemble mean".into()),
                    &d.grid,
                    &w.mean,
                    BLUE,
                    1.0,
                    3,
                    false,
                ));
                p.series.push(Series::line(
                    Some("Σ kernel regression".into()),
                    &d.grid,
                    &d.sigma_regression,
                    GREEN,
                    1.0,
                    2,
                    false,
                ));
                finish(&mut p);
                p
            })
            .collect()
    };
    let cols = panels.len();
    let fig = Figure {
        title: Some(format!(
            "{} networks, SGL with surrogate {} vs the SG-NTK GP",
            s.activation, s.surrogate
        )),
        rows: 1,
        cols,
        panel_size: (760, 500),
        panels,
    };
    draw(&fig, stem)
}

/// Fig. B.1: the target and the training points.
pub(crate) fn target(
    grid: &[f64],
    y: &[f64],
    train: &[f64],
    yt: &[f64],
    stem: &Path,
) -> Result<Vec<PathBuf>, ExpError> {
    let mut p = Panel::new("target f(x(α)) on the unit circle", "α", "f");
    p.x_range = Some((-PI, PI));
    p.series.push(Series::line(
        Some("target".into()),
        grid,
        y,
        BLUE,
        1.0,
        2,
        false,
    ));
    p.series.push(crosses("training points", train, yt));
    p.legend = true;
    let fig = Figure {
        title: None,
        rows: 1,
        cols: 1,
        panel_size: (640, 420),
        panels: vec![p],
    };
    draw(&fig, stem)
}

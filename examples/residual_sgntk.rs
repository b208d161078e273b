//! A residual network's empirical kernels against its infinite-width kernels, at growing widths —
//! an SG-NTK no paper or library provides (`sgntk_ntk::analytic::residual`).
//!
//! Top row: erf:5 networks, the SG-NTK (true derivative on the grid point, σ̃ = erf' on x(0)).
//! Bottom row: sign networks, whose true derivative is useless, with the surrogate on both sides.
//! Each panel shows the slices K(x(Δα), x(0)) of every network at initialization, their mean and
//! the analytic kernel; the MSE to the analytic kernel and its slope in the width are printed.
//! Writes `OUT/residual_sgntk.png/.svg`.
//!
//! ```text
//! cargo run --release --example residual_sgntk -- [--blocks 2] [--nets 4] [--out figures]
//! ```

use std::error::Error;
use std::path::PathBuf;

use sgntk::experiments::plot::{render, Figure, Format, LegendPos, Mark, Panel, RGBColor, Series};
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{data, Activation, BackendKind, ResidualConfig, ResidualNet, Surrogate};
use sgntk::ntk::empirical::{jacobian_kernel, DerivativePair};
use sgntk::ntk::{network_kernel_matrix, residual_network, KernelKind, Method};

const WIDTHS: [usize; 3] = [32, 128, 512];
const ERF_PRIME: Surrogate = Surrogate::ErfPrime { a: 1.0 };
const BLUE: RGBColor = RGBColor(31, 119, 180);

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> Result<(), Box<dyn Error>> {
    let blocks: usize = flag("--blocks", "2").parse()?;
    let nets: usize = flag("--nets", "4").parse()?;
    let out = PathBuf::from(flag("--out", "figures"));
    std::fs::create_dir_all(&out)?;
    let device = BackendKind::default().device()?;
    let grid = data::test_grid(32);
    let (xs, x0) = (data::circle_points(&grid), data::circle_points(&[0.0]));
    let rows = [
        (
            "erf:5, SG-NTK (φ', erf')",
            Activation::Erf { m: 5.0 },
            DerivativePair::sg_ntk(ERF_PRIME),
            KernelKind::SgNtk,
        ),
        (
            "sign, erf' on both sides",
            Activation::Sign,
            DerivativePair {
                g1: ERF_PRIME,
                g2: ERF_PRIME,
            },
            KernelKind::Generalized {
                g1: ERF_PRIME,
                g2: ERF_PRIME,
            },
        ),
    ];
    // a line over the grid of angles
    let grid_line = |label, y: &[f64], color, alpha| Series::line(label, &grid, y, color, alpha);
    let mut panels = Vec::new();
    for (name, act, pair, kind) in rows {
        let mut mses = Vec::new();
        for (col, &n) in WIDTHS.iter().enumerate() {
            let c = ResidualConfig::new(n, blocks, act);
            let net = residual_network(&c, kind, ERF_PRIME, Method::Auto)?;
            let want: Vec<f64> = network_kernel_matrix(&net, kind, &xs, &x0)?
                .iter()
                .copied()
                .collect();
            let mut p = Panel::new(format!("{name}, n = {n}"), "Δα", "K(x(Δα), x(0))");
            let mut mean = vec![0.0; grid.len()];
            let mut mse = 0.0;
            for k in 0..nets {
                let model = ResidualNet::init(&c, 0, k, &device)?;
                let got: DMatrix<f64> = jacobian_kernel(&model, &xs, &x0, pair)?;
                let got: Vec<f64> = got.iter().copied().collect();
                mse += got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    / (grid.len() * nets) as f64;
                for (m, v) in mean.iter_mut().zip(&got) {
                    *m += v / nets as f64;
                }
                let label = (k == 0).then(|| "networks, t = 0".to_string());
                p.series.push(grid_line(label, &got, BLUE, 0.3));
            }
            mses.push(mse);
            let mean = grid_line(Some("mean".into()), &mean, BLUE, 1.0);
            let analytic = grid_line(Some("analytic".into()), &want, RGBColor(0, 0, 0), 1.0);
            p.series
                .extend([mean.mark(Mark::Line(2)), analytic.mark(Mark::Dashed(2))]);
            p.legend = (col == 0).then_some(LegendPos::LowerMiddle);
            panels.push(p);
        }
        let (lx, ly): (Vec<f64>, Vec<f64>) = WIDTHS
            .iter()
            .zip(&mses)
            .map(|(n, m)| ((*n as f64).ln(), m.ln()))
            .unzip();
        let (mx, my) = (lx.iter().sum::<f64>() / 3.0, ly.iter().sum::<f64>() / 3.0);
        let slope = lx
            .iter()
            .zip(&ly)
            .map(|(a, b)| (a - mx) * (b - my))
            .sum::<f64>()
            / lx.iter().map(|a| (a - mx).powi(2)).sum::<f64>();
        let mses: Vec<String> = mses.iter().map(|m| format!("{m:.3e}")).collect();
        println!(
            "{name}: MSE to the analytic kernel {} at n = {WIDTHS:?}; slope {slope:.2}",
            mses.join(", ")
        );
    }
    let title = format!(
        "Residual MLP 2 → n → ({blocks} blocks) → 1 at initialization, {nets} networks per panel"
    );
    let fig = Figure::new(Some(title), (2, WIDTHS.len()), (420, 320), panels);
    for file in render(&fig, &out.join("residual_sgntk"), Format::Both)? {
        println!("wrote {}", file.display());
    }
    Ok(())
}

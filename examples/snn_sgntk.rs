//! The empirical kernel of a discrete-time LIF spiking network trained by SGL through time, for
//! several widths, at initialization and after training — like Fig. 2, for an SNN.
//!
//! The spike function (Heaviside) has no true derivative, so the kernel uses the surrogate on both
//! sides, K(x, x') = J̃(x) J̃(x')ᵀ, computed by the generic per-sample-Jacobian path (no SNN-specific
//! kernel code). Writes `OUT/snn_kernel.csv` (delta_alpha, width, stage, mean, std over seeds),
//! `OUT/snn_functions.csv` (alpha, width, seed, f after training) and `OUT/snn_sgntk.png/.svg`.
//!
//! ```text
//! cargo run --release --example snn_sgntk -- [--widths 128,512] [--seeds 8] [--steps 500]
//!     [--time-steps 4] [--grid 48] [--out figures/snn]
//! ```

use std::error::Error;
use std::path::PathBuf;

use sgntk::experiments::io::{Cell, Table};
use sgntk::experiments::plot::{
    render, Band, Figure, Format, LegendPos, Mark, Panel, RGBColor, Series,
};
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{
    data, train_flat, BackendKind, LearningRule, Snn, SnnConfig, Surrogate, TrainConfig, TrainSet,
};
use sgntk::ntk::empirical::{ensemble_mean, ensemble_spread, jacobian_kernel, KernelPair};

struct Args {
    widths: Vec<usize>,
    seeds: u64,
    steps: usize,
    time_steps: usize,
    grid: usize,
    out: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        widths: vec![128, 512],
        seeds: 8,
        steps: 500,
        time_steps: 4,
        grid: 48,
        out: PathBuf::from("figures/snn"),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair
            .get(1)
            .ok_or_else(|| format!("{} needs a value", pair[0]))?;
        let bad = |e: std::num::ParseIntError| format!("{} {value}: {e}", pair[0]);
        match pair[0].as_str() {
            "--widths" => {
                a.widths = value
                    .split(',')
                    .map(|w| w.trim().parse().map_err(bad))
                    .collect::<Result<_, _>>()?
            }
            "--seeds" => a.seeds = value.parse().map_err(bad)?,
            "--steps" => a.steps = value.parse().map_err(bad)?,
            "--time-steps" => a.time_steps = value.parse().map_err(bad)?,
            "--grid" => a.grid = value.parse().map_err(bad)?,
            "--out" => a.out = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.widths.is_empty() || a.widths.contains(&0) || a.seeds < 2 || a.grid < 2 {
        return Err("need positive widths, --seeds ≥ 2 and --grid ≥ 2".into());
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let a = parse()?;
    std::fs::create_dir_all(&a.out)?;
    let device = BackendKind::default().device()?;
    let g = Surrogate::ErfPrime { a: 1.0 };
    let pair = KernelPair { g1: g, g2: g };
    let grid = data::test_grid(a.grid);
    let xs = data::circle_points(&grid);
    let x0 = data::circle_points(&[0.0]);
    let x = data::circle_points(&data::uniform_angles(15, data::DEFAULT_DATA_SEED));
    let set = TrainSet {
        y: data::targets(&x),
        x,
    };
    let cfg = TrainConfig {
        rule: LearningRule::Sgl(g),
        lr: 0.1,
        steps: a.steps,
        ..TrainConfig::default()
    };
    let mut kernel_csv = Table::new(&["delta_alpha", "width", "stage", "mean", "std"]);
    let mut fn_csv = Table::new(&["alpha", "width", "seed", "f"]);
    let mut panels = Vec::new();
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];
    for &width in &a.widths {
        let mut c = SnnConfig::new(width, a.time_steps);
        c.beta = 0.8;
        c.theta = 0.5;
        let (mut init, mut trained, mut funcs) = (Vec::new(), Vec::new(), Vec::new());
        let mut losses = Vec::new();
        for seed in 0..a.seeds {
            let mut snn = Snn::init(&c, seed, &device)?;
            init.push(jacobian_kernel(&snn, &x0, &xs, pair)?.transpose());
            let report = train_flat(&mut snn, &set, &cfg, &[], |_, _| Ok(()))?;
            losses.push((report.loss[0], *report.loss.last().expect("steps + 1")));
            trained.push(jacobian_kernel(&snn, &x0, &xs, pair)?.transpose());
            funcs.push(snn.predict(&xs)?);
        }
        let rel = |ks: &[DMatrix<f64>]| ensemble_spread(ks).norm() / ensemble_mean(ks).norm();
        let change = init
            .iter()
            .zip(&trained)
            .map(|(p, q)| (q - p).norm() / p.norm())
            .sum::<f64>()
            / init.len() as f64;
        let (l0, lt) = losses
            .iter()
            .fold((0.0, 0.0), |(p, q), (a, b)| (p + a, q + b));
        println!(
            "n = {width:5}: relative spread over {} seeds {:.3} (init) {:.3} (trained); mean relative kernel change {:.3}; loss {:.4} -> {:.4}",
            a.seeds,
            rel(&init),
            rel(&trained),
            change,
            l0 / a.seeds as f64,
            lt / a.seeds as f64
        );
        let mut p = Panel::new(
            format!("LIF kernel, n = {width}, T = {}", a.time_steps),
            "Δα",
            "K(x(0), x(Δα))",
        );
        p.legend = panels.is_empty().then_some(LegendPos::UpperRight);
        for (i, (stage, ks)) in [("init", &init), ("trained", &trained)]
            .into_iter()
            .enumerate()
        {
            let mean = ensemble_mean(ks);
            let std = ensemble_spread(ks);
            for j in 0..grid.len() {
                kernel_csv.push(&[
                    Cell::Num(grid[j]),
                    Cell::Int(width),
                    Cell::Text(stage),
                    Cell::Num(mean[(j, 0)]),
                    Cell::Num(std[(j, 0)]),
                ]);
            }
            p.bands.push(Band {
                label: Some(format!("{stage}: mean ± std")),
                x: grid.clone(),
                lower: (0..grid.len())
                    .map(|j| mean[(j, 0)] - std[(j, 0)])
                    .collect(),
                upper: (0..grid.len())
                    .map(|j| mean[(j, 0)] + std[(j, 0)])
                    .collect(),
                color: colors[i],
                alpha: 0.25,
            });
            let m: Vec<f64> = mean.iter().copied().collect();
            p.series.push(
                Series::line(None, &grid, &m, colors[i], 1.0).mark(if i == 1 {
                    Mark::Dashed(2)
                } else {
                    Mark::Line(2)
                }),
            );
        }
        panels.push(p);
        let mut f = Panel::new(format!("trained networks, n = {width}"), "α", "f(x(α))");
        f.legend = Some(LegendPos::LowerRight);
        for (seed, fx) in funcs.iter().enumerate() {
            for j in 0..grid.len() {
                fn_csv.push(&[
                    Cell::Num(grid[j]),
                    Cell::Int(width),
                    Cell::Int(seed),
                    Cell::Num(fx[(j, 0)]),
                ]);
            }
            let label = (seed == 0).then(|| "networks".to_string());
            let y: Vec<f64> = fx.iter().copied().collect();
            f.series
                .push(Series::line(label, &grid, &y, colors[0], 0.35));
        }
        let target: Vec<f64> = data::targets(&xs).iter().copied().collect();
        let target = Series::line(
            Some("target".into()),
            &grid,
            &target,
            RGBColor(0, 0, 0),
            1.0,
        );
        f.series.push(target.mark(Mark::Dashed(2)));
        let angles = data::uniform_angles(15, data::DEFAULT_DATA_SEED);
        let ys: Vec<f64> = set.y.iter().copied().collect();
        f.series
            .push(Series::crosses("training points", &angles, &ys));
        panels.push(f);
    }
    kernel_csv.write(&a.out.join("snn_kernel.csv"))?;
    fn_csv.write(&a.out.join("snn_functions.csv"))?;
    let fig = Figure {
        title: Some(format!(
            "LIF network (β = 0.8, θ = 0.5), SGL through time with erf', {} steps, {} seeds",
            a.steps, a.seeds
        )),
        grid: (a.widths.len(), 2),
        panel_size: (520, 360),
        panels,
    };
    let files = render(&fig, &a.out.join("snn_sgntk"), Format::Both)?;
    println!(
        "wrote {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

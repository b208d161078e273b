//! A sign CNN on small images: its analytic SG-NTK GP after SGL (mean ± 2 std) against sign CNNs
//! trained by SGL (surrogate erf'), along a closed path of images x(α) = cos α · A + sin α · B
//! (A, B two seeded 5 × 5 images). Prints the fraction of trained outputs inside the band.
//! Writes `OUT/cnn_sgntk.png/.svg`.
//!
//! ```text
//! cargo run --release --example cnn_sgntk -- [--channels 32] [--nets 12] [--steps 1000] [--out figures]
//! ```

use std::error::Error;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use sgntk::experiments::plot::{
    render, Band, Figure, Format, LegendPos, Mark, Panel, RGBColor, Series,
};
use sgntk::model::nalgebra::DMatrix;
use sgntk::model::{predict_flat, train_flat, BackendKind, LearningRule, NetSpec, Surrogate};
use sgntk::model::{TrainConfig, TrainSet};
use sgntk::ntk::{gp_predict, KernelKind, Kernels, Method, TrainTime};

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name);
    at.and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let channels: usize = flag("--channels", "32").parse()?;
    let (nets, steps): (usize, usize) = (
        flag("--nets", "12").parse()?,
        flag("--steps", "1000").parse()?,
    );
    let out = PathBuf::from(flag("--out", "figures"));
    std::fs::create_dir_all(&out)?;
    let spec: NetSpec = toml::from_str(&format!(
        r#"input_shape = [5, 5, 1]
           sigma_w = 1.0
           sigma_b = 0.1
           kappa = 1.0
           layers = [{{ conv = {{ channels = {channels}, filter = [3, 3], padding = "same" }} }},
                     {{ act = "sign" }},
                     {{ conv = {{ channels = {channels}, filter = [3, 3], padding = "same" }} }},
                     {{ act = "sign" }}, "global-average-pool", {{ dense = {{ width = 1 }} }}]"#
    ))?;
    // The path of images and the task y(α) = sin α + cos(2α)/2 at 8 training angles.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (a, b): (Vec<f64>, Vec<f64>) = (0..25)
        .map(|_| (rng.random_range(-1.5..1.5), rng.random_range(-1.5..1.5)))
        .unzip();
    let images = |alphas: &[f64]| {
        DMatrix::from_fn(alphas.len(), 25, |i, j| {
            alphas[i].cos() * a[j] + alphas[i].sin() * b[j]
        })
    };
    let grid: Vec<f64> = (0..80)
        .map(|i| -std::f64::consts::PI + i as f64 * 0.08)
        .collect();
    let train_alphas: Vec<f64> = (0..8).map(|i| -2.8 + i as f64 * 0.75).collect();
    let target = |t: &f64| t.sin() + (2.0 * t).cos() / 2.0;
    let (xt, xs) = (images(&train_alphas), images(&grid));
    let yt = DMatrix::from_iterator(8, 1, train_alphas.iter().map(target));
    // The SG-NTK GP after `steps` discrete SGL steps of learning rate 0.2.
    let g: Surrogate = "erf-prime:1".parse()?;
    let kernels = Kernels::Spec {
        spec: &spec,
        surrogate: g,
        method: Method::Auto,
    };
    let time = TrainTime::Finite {
        t: steps as f64,
        lr: 0.2,
        discrete: true,
    };
    let gp = gp_predict(kernels, KernelKind::SgNtk, &xt, &yt, &xs, time)?;
    let (mean, std): (Vec<f64>, Vec<f64>) = (
        gp.mean.iter().copied().collect(),
        gp.std().iter().copied().collect(),
    );
    // Sign CNNs trained by SGL with the same surrogate, one after the other.
    let device = BackendKind::default().device()?;
    let config = TrainConfig::new(LearningRule::Sgl(g), 0.2, steps);
    let set = TrainSet {
        x: xt,
        y: yt.clone(),
    };
    let mut p = Panel::new(
        format!("sign CNN, {channels} channels, SGL t = {steps}"),
        "α",
        "f(x(α))",
    );
    let (mut inside, blue) = (0, RGBColor(31, 119, 180));
    for k in 0..nets {
        let mut net = spec.init(0, k, &device)?;
        train_flat(&mut net, &set, &config, &[], |_, _| Ok(()))?;
        let f: Vec<f64> = predict_flat(&net, &xs)?.iter().copied().collect();
        inside += f
            .iter()
            .zip(&mean)
            .zip(&std)
            .filter(|((f, m), s)| (*f - *m).abs() <= 2.0 * *s)
            .count();
        p.series.push(Series::line(
            (k == 0).then(|| "trained networks".into()),
            &grid,
            &f,
            blue,
            0.5,
        ));
    }
    println!(
        "{:.3} of the trained outputs inside the SG-NTK GP's ±2 std band",
        inside as f64 / (nets * grid.len()) as f64
    );
    let band = |s: f64| mean.iter().zip(&std).map(|(m, d)| m + s * d).collect();
    let grey = RGBColor(120, 120, 120);
    p.bands.push(Band {
        label: Some("SG-NTK GP ± 2 std".into()),
        x: grid.clone(),
        lower: band(-2.0),
        upper: band(2.0),
        color: grey,
        alpha: 0.3,
    });
    p.series.push(
        Series::line(Some("GP mean".into()), &grid, &mean, RGBColor(0, 0, 0), 1.0)
            .mark(Mark::Dashed(2)),
    );
    p.series.push(Series::crosses(
        "training points",
        &train_alphas,
        yt.as_slice(),
    ));
    p.legend = Some(LegendPos::LowerRight);
    let fig = Figure::new(None, (1, 1), (640, 420), vec![p]);
    for file in render(&fig, &out.join("cnn_sgntk"), Format::Both)? {
        println!("wrote {}", file.display());
    }
    Ok(())
}

//! Experiment settings: the paper-scale and quick presets of every figure (docs/MATH.md §7), and TOML
//! config files that override any of them.
//!
//! A config file has one table per figure; every key is optional and unknown keys are an error:
//!
//! ```toml
//! [fig1]
//! widths = [10, 100]
//! nets = 3
//!
//! [fig3a]
//! steps = 2000
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use sgntk_model::data::{
    test_grid, train_angles, train_grid_angles, DataSource, DEFAULT_DATA_SEED,
};
use sgntk_model::{Activation, Layer, NetSpec, Padding, Surrogate};

use crate::error::ExpError;

/// Scale of a figure run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The same experiment shrunk to about two minutes or less on 2 CPU cores.
    Quick,
    /// The paper's scale (docs/MATH.md §7).
    Paper,
}

/// The training points and the test grid of a figure (keys of every figure's table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Points {
    /// Number of training points.
    pub train_points: usize,
    /// Training points: the paper's own (`paper`) or drawn from `data_seed` (`seeded`).
    pub data: DataSource,
    /// Seed of the training angles (`data = "seeded"`).
    pub data_seed: u64,
    /// Test-grid size.
    pub grid: usize,
}

impl Points {
    /// The preset's 15 training points and a grid of `grid` points.
    fn preset(preset: Preset, grid: usize) -> Self {
        Points {
            train_points: 15,
            data: preset_data(preset),
            data_seed: DEFAULT_DATA_SEED,
            grid,
        }
    }

    /// Checks the sizes; `squared_grid`: the figure allocates grid² values (a GP covariance).
    fn validate(&self, squared_grid: bool) -> Result<(), String> {
        if self.train_points == 0 || self.grid < 2 {
            return Err("train_points must be ≥ 1 and grid ≥ 2".into());
        }
        check_train_points(self.train_points)?;
        check_grid(self.grid, squared_grid)
    }

    /// The training angles, uniform on the circle (Fig. 1/2, B.1, the LIF network).
    pub fn train_angles(&self) -> Result<Vec<f64>, String> {
        train_angles(self.data, self.train_points, self.data_seed)
    }
}

/// The MLPs of a trained figure and their training (Fig. 1/2 and Fig. 3a/3b/B.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Learning rate η.
    pub lr: f64,
    /// Number of layers L (two hidden layers: 3).
    pub depth: usize,
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
}

impl Training {
    /// The paper's: η = 0.1, L = 3, σw = 1, σb = 0.1.
    fn paper() -> Self {
        Training {
            lr: 0.1,
            depth: 3,
            sigma_w: 1.0,
            sigma_b: 0.1,
        }
    }

    /// Checks the values.
    fn validate(&self) -> Result<(), String> {
        let Training {
            lr,
            depth,
            sigma_w,
            sigma_b,
        } = *self;
        check_lr(lr)?;
        if depth < 2 {
            return Err(format!(
                "depth must be ≥ 2 (at least one hidden layer), got {depth}"
            ));
        }
        sgntk_model::mlp::check_scales(sigma_w, sigma_b, 1.0).map_err(|e| e.to_string())
    }

    /// Before building any network: `chunk` networks of every width in `widths` (2 → n → … → n
    /// → 1, `depth` layers) fit into memory (the CLI's check of `--width`/`--depth`).
    fn check_sizes(&self, widths: &[usize], chunk: usize) -> Result<(), String> {
        for &width in widths {
            sgntk_model::mlp::check_mlp_size(2, width, self.depth, 1, chunk)
                .map_err(|e| format!("widths = [{width}], depth = {}: {e}", self.depth))?;
        }
        Ok(())
    }
}

/// Fig. 1 / Fig. 2 (and B.3 / B.4, which are computed from them): empirical kernels of trained
/// erf_m networks against the analytic kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelFigure {
    /// Activation parameters m of erf_m (one row of panels each).
    pub ms: Vec<f64>,
    /// Hidden widths n (one column of panels each).
    pub widths: Vec<usize>,
    /// Networks per (m, n) cell.
    pub nets: usize,
    /// Training steps t of the plotted trained kernel (the caption's t = 1e4 at paper scale).
    pub steps: usize,
    /// Further steps (< `steps`) at which the kernel is recorded and reported in the JSON, e.g.
    /// the authors' code's t = 1e3; the kernel change sup_t ‖Θ_t − Θ_0‖_F/‖Θ_0‖_F is taken over
    /// these, 0 and `steps`.
    pub record_steps: Vec<usize>,
    /// The networks and their training.
    #[serde(flatten)]
    pub training: Training,
    /// Surrogate derivative σ̃ of SGL (`true` = gradient descent, the NTK of Fig. 1).
    pub surrogate: Surrogate,
    /// Training points (uniform angles) and test grid (angles Δα of the kernel slice).
    #[serde(flatten)]
    pub points: Points,
    /// Networks trained together (and saved together for resuming). Default 1: one network per
    /// job keeps its weights in cache; measured for width 500 (8 nets × 2000 SGL steps, 2 threads):
    /// 16.8 s with 1 network per job, 29.2 s with 2, 31.3 s with 4.
    pub chunk: usize,
}

impl KernelFigure {
    /// Every step at which kernels are recorded: 0, `record_steps`…, `steps`.
    pub fn recorded_steps(&self) -> Vec<usize> {
        let mut t = vec![0];
        t.extend(&self.record_steps);
        t.push(self.steps);
        t
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        check_ensemble(&self.widths, self.nets, self.chunk)?;
        self.training.validate()?;
        self.training.check_sizes(&self.widths, self.chunk)?;
        self.points.validate(true)?;
        check_nets(self.nets, self.widths.len(), self.points.grid)?;
        check_steps(self.steps)?;
        check_recorded(self)?;
        check_ms(&self.ms)?;
        if let Some(t) = self
            .record_steps
            .iter()
            .find(|&&t| t == 0 || t >= self.steps)
        {
            return Err(format!(
                "record_steps must lie strictly between 0 and steps = {}, got {t}",
                self.steps
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(t) = self.record_steps.iter().find(|&&t| !seen.insert(t)) {
            return Err(format!(
                "record_steps lists step {t} twice (each step is recorded once)"
            ));
        }
        self.points.train_angles()?;
        Ok(())
    }
}

/// Fig. 3a / 3b / B.2: sign networks trained by SGL vs the SG-NTK GP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionFigure {
    /// Activation of the networks.
    pub activation: Activation,
    /// Surrogate derivative σ̃.
    pub surrogate: Surrogate,
    /// Hidden widths n (one ensemble each).
    pub widths: Vec<usize>,
    /// Networks per width.
    pub nets: usize,
    /// Training steps t.
    pub steps: usize,
    /// The networks and their training.
    #[serde(flatten)]
    pub training: Training,
    /// Last-layer scale κ: the networks compute g = κ f (an output multiplier, docs/MATH.md §1).
    pub kappa: f64,
    /// Training points (drawn from the grid without replacement) and test grid.
    #[serde(flatten)]
    pub points: Points,
    /// Networks trained together (and saved together for resuming).
    pub chunk: usize,
}

impl RegressionFigure {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        check_ensemble(&self.widths, self.nets, self.chunk)?;
        self.training.validate()?;
        self.training.check_sizes(&self.widths, self.chunk)?;
        self.points.validate(true)?;
        let Points {
            train_points,
            data,
            grid,
            ..
        } = self.points;
        check_nets(self.nets, self.widths.len(), grid)?;
        check_steps(self.steps)?;
        sgntk_model::mlp::check_scales(1.0, 0.0, self.kappa).map_err(|e| e.to_string())?;
        if train_points > grid {
            return Err(format!(
                "train_points ({train_points}) cannot exceed grid ({grid}): they are drawn from the grid"
            ));
        }
        if data == DataSource::Paper {
            train_grid_angles(data, &test_grid(grid), train_points, 0)?;
        }
        Ok(())
    }
}

/// The κ study (`sgntk figure kappa`): Fig. B.2's networks over last-layer scales κ, widths n and
/// training times t, each cell compared with the SG-NTK GP by Fig. 3a's statistics. Every network
/// is trained for `steps` steps and its outputs recorded every `record_every` steps; the reported
/// `times` are any of those. A chunk's cache key holds its κ, width, members, `steps` and
/// `record_every` only, so adding κs, widths, networks or reported times (≤ `steps`) later reuses
/// every finished chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KappaFigure {
    /// Activation of the networks.
    pub activation: Activation,
    /// Surrogate derivative σ̃.
    pub surrogate: Surrogate,
    /// Last-layer scales κ (output multipliers, docs/MATH.md §1).
    pub kappas: Vec<f64>,
    /// Hidden widths n (of every κ).
    pub widths: Vec<usize>,
    /// Further widths for some κs only (e.g. the widest networks only where they are needed).
    #[serde(default)]
    pub extra: Vec<KappaWidths>,
    /// Networks per (κ, n) cell.
    pub nets: usize,
    /// Training steps of every network.
    pub steps: usize,
    /// Outputs are recorded every `record_every` steps (part of the cache key).
    pub record_every: usize,
    /// Training times t reported (multiples of `record_every`, at most `steps`).
    pub times: Vec<usize>,
    /// The networks and their training.
    #[serde(flatten)]
    pub training: Training,
    /// Training points (drawn from the grid) and test grid.
    #[serde(flatten)]
    pub points: Points,
    /// Networks trained together (and saved together for resuming).
    pub chunk: usize,
    /// Bootstrap resamples (over networks) for the statistics' standard errors.
    pub bootstrap: usize,
}

/// Widths studied for one κ only (`extra = [{ kappa = 0.2, widths = [2000], nets = 20 }]` in
/// `[kappa]`), with their own number of networks if `nets` is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KappaWidths {
    /// The κ (one of `kappas`).
    pub kappa: f64,
    /// Its widths beyond `widths`.
    pub widths: Vec<usize>,
    /// Networks per cell of these widths (default: the study's `nets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nets: Option<usize>,
}

impl KappaFigure {
    /// The widths of one κ, ascending: `widths` and its `extra` widths.
    pub fn widths_of(&self, kappa: f64) -> Vec<usize> {
        let mut w: Vec<usize> = self.widths.clone();
        for e in self.extra.iter().filter(|e| e.kappa == kappa) {
            w.extend(&e.widths);
        }
        w.sort_unstable();
        w.dedup();
        w
    }

    /// Networks of the cell (κ, n): `nets`, or those of the `extra` entry that adds n (unless n
    /// is one of `widths`).
    pub fn nets_of(&self, kappa: f64, width: usize) -> usize {
        if self.widths.contains(&width) {
            return self.nets;
        }
        self.extra
            .iter()
            .find(|e| e.kappa == kappa && e.widths.contains(&width))
            .and_then(|e| e.nets)
            .unwrap_or(self.nets)
    }

    /// The Fig. 3a-style settings of one κ and time t (all its widths): what a cell is compared
    /// with.
    pub fn cell(&self, kappa: f64, t: usize) -> RegressionFigure {
        RegressionFigure {
            activation: self.activation,
            surrogate: self.surrogate,
            widths: self.widths_of(kappa),
            nets: self.nets,
            steps: t,
            training: self.training.clone(),
            kappa,
            points: self.points.clone(),
            chunk: self.chunk,
        }
    }

    /// The recorded steps: `record_every`, 2 `record_every`, …, `steps`.
    pub fn recorded_steps(&self) -> Vec<usize> {
        (1..=self.steps / self.record_every.max(1))
            .map(|k| k * self.record_every)
            .collect()
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.kappas.is_empty() || self.times.is_empty() {
            return Err("kappas and times must be non-empty lists".into());
        }
        if self.record_every == 0 || !self.steps.is_multiple_of(self.record_every) {
            return Err(format!(
                "record_every must be ≥ 1 and divide steps = {}, got {}",
                self.steps, self.record_every
            ));
        }
        if let Some(t) = self
            .times
            .iter()
            .find(|&&t| t == 0 || t > self.steps || !t.is_multiple_of(self.record_every))
        {
            return Err(format!(
                "times must be positive multiples of record_every = {} up to steps = {}, got {t}",
                self.record_every, self.steps
            ));
        }
        if self.nets < 2 {
            return Err(format!(
                "nets must be ≥ 2 (a spread is estimated), got {}",
                self.nets
            ));
        }
        if let Some(e) = self.extra.iter().find(|e| !self.kappas.contains(&e.kappa)) {
            return Err(format!(
                "extra widths for kappa = {}, which is not in kappas = {:?}",
                e.kappa, self.kappas
            ));
        }
        if let Some(n) = self.extra.iter().find_map(|e| e.nets.filter(|&n| n < 2)) {
            return Err(format!(
                "extra nets must be ≥ 2 (a spread is estimated), got {n}"
            ));
        }
        let recorded = (self.steps / self.record_every) as u64;
        let widths: usize = self.kappas.iter().map(|&k| self.widths_of(k).len()).sum();
        let nets = self
            .extra
            .iter()
            .filter_map(|e| e.nets)
            .fold(self.nets, usize::max);
        sgntk_model::check_memory(
            "record_every",
            &[
                ("recorded steps", recorded),
                ("networks", nets as u64),
                ("(kappa, width) cells", widths as u64),
                ("grid points", self.points.grid as u64),
                ("bytes", 8),
            ],
        )
        .map_err(|e| e.to_string())?;
        for &kappa in &self.kappas {
            self.cell(kappa, self.steps).validate()?;
        }
        Ok(())
    }
}

/// Fig. B.1: the target and the training points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFigure {
    /// Training points (uniform angles, as in Fig. 1/2) and the points on the plotted curve.
    #[serde(flatten)]
    pub points: Points,
}

impl TargetFigure {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        self.points.validate(false)?;
        self.points.train_angles()?;
        Ok(())
    }
}

/// `sgntk figure snn`: the empirical SG-NTK of discrete-time LIF spiking networks (Heaviside
/// spikes, the surrogate on both sides) at initialization and after SGL through time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnnFigure {
    /// Numbers of LIF neurons n (one row of panels each).
    pub widths: Vec<usize>,
    /// Networks (seeds) per width.
    pub nets: usize,
    /// Training steps t.
    pub steps: usize,
    /// Simulation steps T of the network.
    pub time_steps: usize,
    /// Membrane leak β ∈ [0, 1].
    pub beta: f64,
    /// Firing threshold θ > 0.
    pub theta: f64,
    /// Learning rate η.
    pub lr: f64,
    /// Surrogate derivative σ̃ of SGL and of the kernel.
    pub surrogate: Surrogate,
    /// Training points (uniform angles, as in Fig. 1/2) and test grid (angles Δα of the slice).
    #[serde(flatten)]
    pub points: Points,
}

impl SnnFigure {
    /// The LIF network of width `width` (σw = 1, σb = 0.1, Heaviside spikes).
    pub fn config(&self, width: usize) -> sgntk_model::SnnConfig {
        sgntk_model::SnnConfig {
            beta: self.beta,
            theta: self.theta,
            ..sgntk_model::SnnConfig::new(width, self.time_steps)
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.widths.contains(&0) || self.nets < 2 {
            return Err(format!(
                "need a non-empty list of positive widths and nets ≥ 2, got {:?} and {}",
                self.widths, self.nets
            ));
        }
        check_lr(self.lr)?;
        for &w in &self.widths {
            self.config(w).validate().map_err(|e| e.to_string())?;
            let n = w as u64;
            sgntk_model::check_memory("widths", &[("neurons", n), ("neurons", n), ("bytes", 8)])
                .map_err(|e| e.to_string())?;
        }
        let t = self.time_steps as u64;
        sgntk_model::check_memory("time_steps", &[("time steps", t), ("bytes", 64)])
            .map_err(|e| e.to_string())?;
        self.points.validate(false)?;
        check_nets(self.nets, self.widths.len(), self.points.grid)?;
        check_steps(self.steps)?;
        self.points.train_angles()?;
        Ok(())
    }
}

/// `sgntk figure digits`: sign MLPs and sign CNNs trained by SGL on the handwritten digits
/// (`sgntk_model::data::digits`, 10 outputs) against their SG-NTK GP, the Σ regression, and erf_m
/// networks trained by GD against their NTK GP, all after the same `steps` steps of `lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsFigure {
    /// Training images (a stratified share of every class).
    pub train_points: usize,
    /// Test images (disjoint from the training images, stratified).
    pub test_points: usize,
    /// Seed of the train/test split.
    pub data_seed: u64,
    /// Hidden widths n of the sign networks (one ensemble per width and surrogate).
    pub widths: Vec<usize>,
    /// Networks per width (one number per entry of `widths`).
    pub nets: Vec<usize>,
    /// Surrogate derivatives σ̃ of SGL (one ensemble per width each, and one SG-NTK GP).
    pub surrogates: Vec<Surrogate>,
    /// Training steps t (full batch).
    pub steps: usize,
    /// The networks (depth, σw, σb) and the learning rate η.
    #[serde(flatten)]
    pub training: Training,
    /// m of the erf_m networks trained by gradient descent (their NTK GP alongside).
    pub erf_ms: Vec<f64>,
    /// Hidden width of the erf_m networks.
    pub erf_width: usize,
    /// Networks per m.
    pub erf_nets: usize,
    /// Channel counts C of the sign CNNs ([`DigitsFigure::cnn_spec`]); empty: no CNNs.
    #[serde(default)]
    pub cnn_channels: Vec<usize>,
    /// Networks per channel count (one number per entry of `cnn_channels`).
    #[serde(default)]
    pub cnn_nets: Vec<usize>,
    /// Networks trained together (and saved together for resuming).
    pub chunk: usize,
}

impl DigitsFigure {
    /// The sign CNN with C channels on the 8 × 8 digit images (NHWC, one input channel):
    /// conv(C, 3 × 3, same) → φ → conv(C, 3 × 3, same) → φ → flatten → dense(10), with the
    /// figure's σw, σb (as many weight layers as the depth-3 MLPs).
    pub fn cnn_spec(&self, phi: Activation, channels: usize) -> NetSpec {
        let side = (sgntk_model::data::DIGITS_PIXELS as f64).sqrt() as usize;
        let conv = || Layer::Conv {
            channels,
            filter: vec![3, 3],
            padding: Padding::Same,
        };
        NetSpec {
            input_shape: vec![side, side, 1],
            layers: vec![
                conv(),
                Layer::Act(phi),
                conv(),
                Layer::Act(phi),
                Layer::Flatten,
                Layer::Dense {
                    width: sgntk_model::data::DIGITS_CLASSES,
                },
            ],
            sigma_w: self.training.sigma_w,
            sigma_b: self.training.sigma_b,
            kappa: 1.0,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        check_ensemble(&self.widths, 1, self.chunk)?;
        if self.nets.len() != self.widths.len() || self.nets.iter().any(|&n| n < 2) {
            return Err(format!(
                "nets must give one count ≥ 2 per width ({} widths), got {:?}",
                self.widths.len(),
                self.nets
            ));
        }
        if self.cnn_nets.len() != self.cnn_channels.len()
            || self.cnn_nets.iter().any(|&n| n < 2)
            || self.cnn_channels.contains(&0)
        {
            return Err(format!(
                "cnn_nets must give one count ≥ 2 per entry of cnn_channels (each ≥ 1), got {:?} and {:?}",
                self.cnn_nets, self.cnn_channels
            ));
        }
        if self.surrogates.is_empty() {
            return Err("surrogates must name at least one surrogate derivative".into());
        }
        if let Some(s) = self.surrogates.iter().find(|s| **s == Surrogate::True) {
            return Err(format!(
                "surrogates: `{s}` is gradient descent, which a sign network cannot use"
            ));
        }
        if self.erf_ms.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(format!(
                "erf_ms must be positive numbers, got {:?}",
                self.erf_ms
            ));
        }
        if !self.erf_ms.is_empty() && (self.erf_width == 0 || self.erf_nets < 2) {
            return Err("erf_width must be ≥ 1 and erf_nets ≥ 2".into());
        }
        self.training.validate()?;
        let images = sgntk_model::data::DIGITS_IMAGES;
        if self.train_points == 0
            || self.test_points == 0
            || self.train_points + self.test_points > images
        {
            return Err(format!(
                "train_points + test_points must be ≤ {images} (the digits data set) and both ≥ 1, got {} + {}",
                self.train_points, self.test_points
            ));
        }
        let pixels = sgntk_model::data::DIGITS_PIXELS;
        let classes = sgntk_model::data::DIGITS_CLASSES;
        for &width in self.widths.iter().chain(&[self.erf_width]) {
            sgntk_model::mlp::check_mlp_size(
                pixels,
                width,
                self.training.depth,
                classes,
                self.chunk,
            )
            .map_err(|e| format!("width {width}, depth = {}: {e}", self.training.depth))?;
        }
        for &channels in &self.cnn_channels {
            self.cnn_spec(Activation::Sign, channels)
                .validate()
                .map_err(|e| format!("cnn_channels {channels}: {e}"))?;
        }
        let nets = self
            .nets
            .iter()
            .chain(&self.cnn_nets)
            .chain(&[self.erf_nets])
            .max()
            .copied()
            .unwrap_or(0);
        check_nets(
            nets,
            self.surrogates.len() + self.erf_ms.len(),
            self.test_points * classes,
        )?;
        check_grid(self.test_points, true)?;
        check_steps(self.steps)
    }
}

/// `sgntk figure cnn`: Fig. 2 and B.4 for convolutional networks — erf_m CNNs trained by SGL on
/// images along a circle, their empirical SG-NTK against the analytic one, and the MSE vs
/// channels (see `figures::cnn`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnFigure {
    /// Activation parameters m of erf_m (one row of panels each).
    pub ms: Vec<f64>,
    /// Channels C of both convolutions (one column of panels each).
    pub channels: Vec<usize>,
    /// Networks per (m, C) cell (≥ 2: the MSE's standard error).
    pub nets: usize,
    /// SGL steps t of the trained kernel.
    pub steps: usize,
    /// Learning rate η.
    pub lr: f64,
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
    /// Surrogate derivative σ̃ of SGL and of the kernel's second side.
    pub surrogate: Surrogate,
    /// Image shape `[H, W, C_in]` (or `[L, C_in]` for signals).
    pub input_shape: Vec<usize>,
    /// Filter of both convolutions (one size per spatial axis).
    pub filter: Vec<usize>,
    /// Padding of both convolutions.
    pub padding: Padding,
    /// Readout before the last Dense: `"global-average-pool"` or `"flatten"`.
    pub readout: Layer,
    /// Seed of the two directions that span the circle of images.
    pub image_seed: u64,
    /// Training angles on the circle of images, and the test grid (angles Δα of the slice).
    #[serde(flatten)]
    pub points: Points,
}

impl CnnFigure {
    /// The network: conv(C) → φ → conv(C) → φ → readout → Dense{1}.
    pub fn spec(&self, phi: Activation, channels: usize) -> NetSpec {
        let conv = || Layer::Conv {
            channels,
            filter: self.filter.clone(),
            padding: self.padding,
        };
        NetSpec {
            input_shape: self.input_shape.clone(),
            layers: vec![
                conv(),
                Layer::Act(phi),
                conv(),
                Layer::Act(phi),
                self.readout.clone(),
                Layer::Dense { width: 1 },
            ],
            sigma_w: self.sigma_w,
            sigma_b: self.sigma_b,
            kappa: 1.0,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels.is_empty() || self.channels.contains(&0) || self.nets < 2 {
            return Err(format!(
                "need a non-empty list of positive channels and nets ≥ 2, got {:?} and {}",
                self.channels, self.nets
            ));
        }
        check_ms(&self.ms)?;
        if !matches!(self.readout, Layer::Flatten | Layer::GlobalAveragePool) {
            return Err(format!(
                "readout must be \"global-average-pool\" or \"flatten\", got {:?}",
                self.readout
            ));
        }
        if !matches!(self.input_shape.len(), 2 | 3)
            || self.input_shape.iter().product::<usize>() < 2
        {
            return Err(format!(
                "input_shape must be [H, W, C] or [L, C] with at least 2 values, got {:?}",
                self.input_shape
            ));
        }
        check_lr(self.lr)?;
        for &c in &self.channels {
            self.spec(Activation::Erf { m: 1.0 }, c)
                .validate()
                .map_err(|e| format!("channels = {c}: {e}"))?;
        }
        self.points.validate(false)?;
        check_nets(
            self.nets,
            self.channels.len() * self.ms.len(),
            self.points.grid,
        )?;
        check_steps(self.steps)?;
        self.points.train_angles()?;
        Ok(())
    }
}

/// Settings of every figure. B.3 and B.4 use `fig1` and `fig2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Fig. 1 (NTK, gradient descent).
    pub fig1: KernelFigure,
    /// Fig. 2 (SG-NTK, SGL).
    pub fig2: KernelFigure,
    /// Fig. 3a (one width, every network).
    pub fig3a: RegressionFigure,
    /// Fig. 3b (ensemble means over widths).
    pub fig3b: RegressionFigure,
    /// Fig. B.1.
    pub b1: TargetFigure,
    /// Fig. B.2 (κ = 0.2).
    pub b2: RegressionFigure,
    /// The LIF spiking network's kernel (`sgntk figure snn`).
    pub snn: SnnFigure,
    /// Sign MLPs on the handwritten digits vs their SG-NTK GP (`sgntk figure digits`).
    pub digits: DigitsFigure,
    /// Convolutional networks' SG-NTK vs channels (`sgntk figure cnn`).
    pub cnn: CnnFigure,
    /// The κ study (`sgntk figure kappa`).
    pub kappa: KappaFigure,
}

/// The data source of a preset: the paper's points at paper scale, seeded ones in the quick runs.
fn preset_data(preset: Preset) -> DataSource {
    match preset {
        Preset::Paper => DataSource::Paper,
        Preset::Quick => DataSource::Seeded,
    }
}

fn kernel_figure(preset: Preset, surrogate: Surrogate) -> KernelFigure {
    let (widths, nets, steps, record_steps) = match preset {
        Preset::Paper => (vec![10, 100, 500, 1000], 10, 10_000, vec![10, 100, 1000]),
        Preset::Quick => (vec![10, 100, 500], 4, 1000, vec![10, 100]),
    };
    KernelFigure {
        ms: vec![2.0, 5.0, 20.0],
        widths,
        nets,
        steps,
        record_steps,
        training: Training::paper(),
        surrogate,
        points: Points::preset(preset, 100),
        chunk: 1,
    }
}

fn regression_figure(
    preset: Preset,
    widths: Vec<usize>,
    nets: usize,
    steps: usize,
    kappa: f64,
) -> RegressionFigure {
    RegressionFigure {
        activation: Activation::Sign,
        surrogate: Surrogate::ErfPrime { a: 1.0 },
        widths,
        nets,
        steps,
        training: Training::paper(),
        kappa,
        points: Points::preset(preset, 100),
        chunk: 1,
    }
}

/// `figure digits`: the quick preset runs in under 3 minutes on 2 cores (27 s); the paper preset is
/// sized to about 40 minutes on one thread (docs/BEYOND.md has the measured times).
fn digits_figure(preset: Preset) -> DigitsFigure {
    let (train_points, test_points, widths, nets, steps, erf_width, erf_nets) = match preset {
        Preset::Paper => (300, 1000, vec![100, 500, 2000], vec![16, 8, 4], 250, 500, 4),
        Preset::Quick => (100, 300, vec![64, 256, 1024], vec![8, 8, 4], 150, 256, 4),
    };
    let (cnn_channels, cnn_nets) = match preset {
        Preset::Paper => (vec![8, 32, 64], vec![8, 4, 4]),
        Preset::Quick => (vec![4, 16], vec![4, 2]),
    };
    DigitsFigure {
        train_points,
        test_points,
        data_seed: DEFAULT_DATA_SEED,
        widths,
        nets,
        surrogates: vec![
            Surrogate::ErfPrime { a: 1.0 },
            Surrogate::FastSigmoid { k: 1.0 },
        ],
        steps,
        // η = 2: η λ_max(Θ)/d ≈ 1.2 < 2 for the SG-NTK of 300 images (λ_max/d = 0.62), so the
        // discrete steps are stable and the GP after t steps is the same comparison at fewer steps
        training: Training {
            lr: 2.0,
            ..Training::paper()
        },
        erf_ms: vec![2.0, 5.0],
        erf_width,
        erf_nets,
        cnn_channels,
        cnn_nets,
        chunk: 1,
    }
}

/// `figure cnn`: erf_m CNNs on 8 × 8 images, 3 × 3 "same" convolutions, a flatten readout.
fn cnn_figure(preset: Preset) -> CnnFigure {
    let (ms, channels, nets, steps, grid) = match preset {
        Preset::Paper => (vec![2.0, 5.0, 20.0], vec![8, 16, 32, 64, 128], 10, 200, 48),
        Preset::Quick => (vec![2.0, 20.0], vec![8, 16, 32, 64], 4, 100, 24),
    };
    CnnFigure {
        ms,
        channels,
        nets,
        steps,
        lr: 0.5,
        sigma_w: 1.0,
        sigma_b: 0.1,
        surrogate: Surrogate::ErfPrime { a: 1.0 },
        input_shape: vec![8, 8, 1],
        filter: vec![3, 3],
        padding: Padding::Same,
        readout: Layer::Flatten,
        image_seed: 5,
        // 8 seeded training images (the paper's 15 angles are for its circle of 2-D points)
        points: Points {
            train_points: 8,
            data: DataSource::Seeded,
            data_seed: DEFAULT_DATA_SEED,
            grid,
        },
    }
}

/// The κ study's presets. Paper: Fig. B.2's networks and data, κ ∈ {1, 0.5, 0.2},
/// n ∈ {250, 500} and n ∈ {1000, 2000} for κ = 0.2 only (κ = 1 and 0.5 agree at n = 250 already),
/// 50 networks per cell (32 at n = 2000, what the session's compute allowed), t = 1e4, 2e4 (B.2's)
/// and 3e4 (docs/REPRODUCTION.md has the measured costs). Quick: κ ∈ {1, 0.2}, n ∈ {50, 200}, 16 networks, t ≤ 4000.
fn kappa_figure(preset: Preset) -> KappaFigure {
    let (kappas, widths, extra, nets, steps, record_every, times) = match preset {
        Preset::Paper => (
            vec![1.0, 0.5, 0.2],
            vec![250, 500],
            vec![(0.2, vec![1000], None), (0.2, vec![2000], Some(32))],
            50,
            30_000,
            10_000,
            vec![10_000, 20_000, 30_000],
        ),
        Preset::Quick => (
            vec![1.0, 0.2],
            vec![50, 200],
            Vec::new(),
            16,
            4000,
            1000,
            vec![2000, 4000],
        ),
    };
    KappaFigure {
        activation: Activation::Sign,
        surrogate: Surrogate::ErfPrime { a: 1.0 },
        kappas,
        widths,
        extra: extra
            .into_iter()
            .map(|(kappa, widths, nets)| KappaWidths {
                kappa,
                widths,
                nets,
            })
            .collect(),
        nets,
        steps,
        record_every,
        times,
        training: Training::paper(),
        points: Points::preset(preset, 100),
        chunk: 1,
        bootstrap: 400,
    }
}

impl Settings {
    /// The built-in settings of a preset.
    pub fn preset(preset: Preset) -> Self {
        let erf_prime = Surrogate::ErfPrime { a: 1.0 };
        let (fig3a, fig3b, b2) = match preset {
            Preset::Paper => (
                regression_figure(preset, vec![500], 500, 30_000, 1.0),
                regression_figure(preset, vec![20, 100, 500], 500, 30_000, 1.0),
                regression_figure(preset, vec![500], 100, 20_000, 0.2),
            ),
            Preset::Quick => (
                regression_figure(preset, vec![200], 48, 5000, 1.0),
                regression_figure(preset, vec![20, 100, 200], 48, 5000, 1.0),
                regression_figure(preset, vec![200], 32, 4000, 0.2),
            ),
        };
        Settings {
            fig1: kernel_figure(preset, Surrogate::True),
            fig2: kernel_figure(preset, erf_prime),
            fig3a,
            fig3b,
            b1: TargetFigure {
                points: Points::preset(preset, 400),
            },
            b2,
            snn: SnnFigure {
                widths: match preset {
                    Preset::Paper => vec![128, 512],
                    Preset::Quick => vec![64, 256],
                },
                nets: 8,
                steps: match preset {
                    Preset::Paper => 500,
                    Preset::Quick => 300,
                },
                time_steps: 4,
                beta: 0.8,
                theta: 0.5,
                lr: 0.1,
                surrogate: erf_prime,
                points: Points::preset(preset, 48),
            },
            digits: digits_figure(preset),
            cnn: cnn_figure(preset),
            kappa: kappa_figure(preset),
        }
    }

    /// The table `name` of these settings as JSON (`fig1`, `b2`, `snn`, …).
    pub fn table(&self, name: &str) -> Result<serde_json::Value, String> {
        let all = serde_json::to_value(self).map_err(|e| e.to_string())?;
        all.get(name)
            .cloned()
            .ok_or_else(|| format!("no settings table `{name}`"))
    }

    /// The preset's settings overridden by the TOML text `config` (`origin` names it in errors).
    pub fn with_overrides(self, config: &str, origin: &str) -> Result<Self, ExpError> {
        let bad = |reason: String| ExpError::Config {
            path: origin.to_string(),
            reason,
        };
        let overrides: toml::Table = toml::from_str(config).map_err(|e| bad(one_line(&e)))?;
        let mut base = toml::Table::try_from(&self).map_err(|e| bad(e.to_string()))?;
        merge(&mut base, overrides, "").map_err(bad)?;
        let settings: Settings = base
            .try_into()
            .map_err(|e: toml::de::Error| bad(one_line(&e)))?;
        settings.validate().map_err(bad)?;
        Ok(settings)
    }

    /// The same settings with every figure's training points taken from `data` (the paper's
    /// figures and `snn`; `cnn` keeps its own 8 seeded images: the paper's 15 angles belong to its
    /// circle of 2-D points).
    pub fn with_data(mut self, data: DataSource) -> Self {
        for points in [
            &mut self.fig1.points,
            &mut self.fig2.points,
            &mut self.fig3a.points,
            &mut self.fig3b.points,
            &mut self.b2.points,
            &mut self.b1.points,
            &mut self.snn.points,
            &mut self.kappa.points,
        ] {
            points.data = data;
        }
        self
    }

    /// The preset's settings, with every figure's training points from `data` when given, then
    /// overridden by the config file at `path` when given.
    pub fn load(
        preset: Preset,
        data: Option<DataSource>,
        path: Option<&Path>,
    ) -> Result<Self, ExpError> {
        let mut base = Settings::preset(preset);
        if let Some(d) = data {
            base = base.with_data(d);
        }
        match path {
            None => Ok(base),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ExpError::Config {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                base.with_overrides(&text, &p.display().to_string())
            }
        }
    }

    /// Checks every figure's settings for values no run can use.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("fig1", self.fig1.validate()),
            ("fig2", self.fig2.validate()),
            ("fig3a", self.fig3a.validate()),
            ("fig3b", self.fig3b.validate()),
            ("b2", self.b2.validate()),
            ("b1", self.b1.validate()),
            ("snn", self.snn.validate()),
            ("digits", self.digits.validate()),
            ("cnn", self.cnn.validate()),
            ("kappa", self.kappa.validate()),
        ];
        for (name, check) in checks {
            check.map_err(|e| format!("[{name}] {e}"))?;
        }
        Ok(())
    }
}

/// Widths, network count and chunk size of a trained ensemble.
fn check_ensemble(widths: &[usize], nets: usize, chunk: usize) -> Result<(), String> {
    if widths.is_empty() || widths.contains(&0) {
        return Err(format!(
            "widths must be a non-empty list of positive integers, got {widths:?}"
        ));
    }
    if nets == 0 || chunk == 0 {
        return Err("nets and chunk must be ≥ 1".into());
    }
    Ok(())
}

/// The m of erf_m networks: a non-empty list of positive numbers.
fn check_ms(ms: &[f64]) -> Result<(), String> {
    if ms.is_empty() || ms.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
        return Err(format!(
            "ms must be a non-empty list of positive numbers, got {ms:?}"
        ));
    }
    Ok(())
}

/// A learning rate: positive and finite.
fn check_lr(lr: f64) -> Result<(), String> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(format!("lr must be a positive number, got {lr}"))
    }
}

/// Before building the job list: every network's outputs on the grid (nets × widths × grid f64
/// values) fit into memory.
fn check_nets(nets: usize, widths: usize, grid: usize) -> Result<(), String> {
    let factors = [
        ("networks", nets as u64),
        ("widths", widths as u64),
        ("grid points", grid as u64),
        ("bytes", 8),
    ];
    sgntk_model::check_memory("nets", &factors)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Before drawing the training points: their kernel matrix (train_points² f64 values) fits.
fn check_train_points(train_points: usize) -> Result<(), String> {
    let n = train_points as u64;
    sgntk_model::check_memory(
        "train_points",
        &[("training points", n), ("training points", n), ("bytes", 8)],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Before allocating: the grid-sized arrays fit into memory (the GP's grid × grid matrices —
/// kernels, covariance, their products: 6 of f64 — when `squared`; else the per-point data,
/// CSV rows and plot paths, 512 bytes per point).
fn check_grid(grid: usize, squared: bool) -> Result<(), String> {
    let g = grid as u64;
    let factors: &[(&str, u64)] = if squared {
        &[("grid points", g), ("grid points", g), ("bytes", 48)]
    } else {
        &[("grid points", g), ("bytes", 512)]
    };
    sgntk_model::check_memory("grid", factors)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Before training: the kernel slices a figure keeps (per network, width and m: one grid-sized
/// slice at each recorded step) fit into memory.
fn check_recorded(f: &KernelFigure) -> Result<(), String> {
    let recorded = (f.record_steps.len() as u64).saturating_add(2);
    sgntk_model::check_memory(
        "record_steps",
        &[
            ("recorded steps", recorded),
            ("networks", f.nets as u64),
            ("widths", f.widths.len() as u64),
            ("ms", f.ms.len() as u64),
            ("grid points", f.points.grid as u64),
            ("bytes", 8),
        ],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Before training: the loss curve (steps + 1 values) fits into memory.
fn check_steps(steps: usize) -> Result<(), String> {
    let values = (steps as u64).saturating_add(1);
    sgntk_model::check_memory("steps", &[("loss values", values), ("bytes", 8)])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Recursively overwrites `base` with `over`; keys absent from `base` are an error.
fn merge(base: &mut toml::Table, over: toml::Table, prefix: &str) -> Result<(), String> {
    for (key, value) in over {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (None, _) => {
                let known: Vec<&str> = base.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown key `{path}` (known here: {})",
                    known.join(", ")
                ));
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o, &path)?,
            (Some(toml::Value::Table(_)), _) => return Err(format!("`{path}` must be a table")),
            (Some(slot), v) => *slot = v,
        }
    }
    Ok(())
}

/// An error message on one line (TOML errors span several, and quote the offending input line:
/// each line is shortened and escaped by [`sgntk_model::error::excerpt`]).
pub(crate) fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(sgntk_model::error::excerpt)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip_through_toml() {
        for p in [Preset::Quick, Preset::Paper] {
            let s = Settings::preset(p);
            s.validate().unwrap();
            let text = toml::to_string(&s).unwrap();
            assert_eq!(s.clone().with_overrides(&text, "x").unwrap(), s);
        }
        let paper = Settings::preset(Preset::Paper);
        assert_eq!(paper.fig1.widths, vec![10, 100, 500, 1000]);
        assert_eq!(paper.fig1.steps, 10_000);
        assert_eq!(paper.fig2.steps, 10_000);
        assert_eq!(paper.fig3a.nets, 500);
        assert_eq!(paper.fig3a.steps, 30_000);
        assert_eq!(paper.b2.kappa, 0.2);
        assert_eq!(paper.b2.steps, 20_000);
        assert_eq!(paper.fig1.record_steps, vec![10, 100, 1000]);
        for d in [
            paper.fig1.points.data,
            paper.fig3a.points.data,
            paper.b2.points.data,
            paper.b1.points.data,
        ] {
            assert_eq!(d, DataSource::Paper);
        }
        let err = paper
            .with_overrides("[fig3a]\ntrain_points = 10\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("data = paper"), "{err}");
    }

    #[test]
    fn overrides_apply_and_unknown_keys_fail() {
        let s = Settings::preset(Preset::Quick)
            .with_overrides(
                "[fig1]\nwidths = [7]\nnets = 2\n[fig3a]\nsurrogate = \"triangle:2\"\n",
                "c.toml",
            )
            .unwrap();
        assert_eq!(s.fig1.widths, vec![7]);
        assert_eq!(s.fig1.nets, 2);
        assert_eq!(s.fig3a.surrogate, Surrogate::Triangle { w: 2.0 });
        assert_eq!(s.fig2, Settings::preset(Preset::Quick).fig2);

        let err = quick_error("[fig1]\nwidth = [7]\n");
        assert!(err.contains("unknown key `fig1.width`"), "{err}");
        assert!(err.contains("c.toml"), "{err}");
        let err = quick_error("[fig9]\nnets = 1\n");
        assert!(err.contains("unknown key `fig9`"), "{err}");
        let err = quick_error("[fig3a]\nactivation = \"sine\"\n");
        assert!(err.contains("sine"), "{err}");
        let err = quick_error("[fig2]\nnets = 0\n");
        assert!(err.contains("[fig2]") && err.contains("nets"), "{err}");
        assert!(!err.contains('\n'));
    }

    /// The error of the quick preset overridden by `config`.
    fn quick_error(config: &str) -> String {
        Settings::preset(Preset::Quick)
            .with_overrides(config, "c.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn kappa_extra_widths_belong_to_one_kappa() {
        let s = Settings::preset(Preset::Quick)
            .with_overrides(
                "[kappa]\nkappas = [1.0, 0.2]\nwidths = [50, 20]\nextra = [{ kappa = 0.2, widths = [400, 50] }]\n",
                "c.toml",
            )
            .unwrap()
            .kappa;
        assert_eq!(s.widths_of(1.0), vec![20, 50]);
        assert_eq!(s.widths_of(0.2), vec![20, 50, 400]);
        assert_eq!(s.cell(0.2, 1000).widths, vec![20, 50, 400]);
        assert_eq!((s.nets_of(0.2, 400), s.nets_of(0.2, 50)), (16, 16));
        let s = Settings::preset(Preset::Quick)
            .with_overrides(
                "[kappa]\nwidths = [50]\nextra = [{ kappa = 0.2, widths = [400, 50], nets = 6 }]\n",
                "c.toml",
            )
            .unwrap()
            .kappa;
        // the extra entry's nets for its own widths, not for the common ones
        assert_eq!((s.nets_of(0.2, 400), s.nets_of(0.2, 50)), (6, 16));
        let err = quick_error("[kappa]\nextra = [{ kappa = 0.2, widths = [400], nets = 1 }]\n");
        assert!(err.contains("extra nets must be ≥ 2"), "{err}");
        let err =
            quick_error("[kappa]\nkappas = [1.0]\nextra = [{ kappa = 0.2, widths = [400] }]\n");
        assert!(
            err.contains("kappa = 0.2") && err.contains("not in kappas"),
            "{err}"
        );
        let paper = Settings::preset(Preset::Paper).kappa;
        assert_eq!(paper.widths_of(0.2), vec![250, 500, 1000, 2000]);
        assert_eq!(paper.widths_of(0.5), vec![250, 500]);
    }

    #[test]
    fn absurd_sizes_fail_before_allocating() {
        // Found by the TOML property test: train_points used to abort the process in
        // `uniform_angles`.
        let cases = [
            (
                "train_points",
                "8662270369921768792",
                ["fig1", "fig3a", "b1"],
            ),
            ("nets", "1000000000000000000", ["fig1", "b2", "snn"]),
        ];
        for (key, value, tables) in cases {
            for table in tables {
                let err = quick_error(&format!("[{table}]\n{key} = {value}\n"));
                assert!(
                    err.contains(&format!("[{table}]")) && err.contains(key),
                    "{err}"
                );
            }
        }
    }
}

//! The arguments of every subcommand and their parsers (clap). Flag names are a contract (see
//! the README).

use std::path::PathBuf;

use clap::builder::ArgPredicate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sgntk_model::data::DataSource;
use sgntk_model::{Activation, BackendKind, DerivativePair, LearningRule, Surrogate};

use crate::error::ExpError;
use crate::figures::FigureId;
use crate::plot::Format;
use crate::settings::Preset;
use crate::shard::Shard;

/// sgntk: surrogate gradient learning through the (SG-)NTK.
///
/// Analytic and empirical kernels, infinite-width GP predictions, training of NTK-parameterized
/// ensembles with gradient descent or surrogate gradient learning (SGL), and the figures of
/// "A generalized neural tangent kernel for surrogate gradient learning" (NeurIPS 2024).
///
/// Spec strings: activations `erf:M`, `sign`, `step`, `relu`, `tanh`, `identity`; surrogates
/// `erf-prime:A`, `fast-sigmoid:K`, `atan:A`, `sigmoid:K`, `triangle:W`, `boxcar:W`,
/// `straight-through`, `true`. CSV inputs: one point per row, comma-separated, optional header;
/// in training files the last column is the target.
#[derive(Debug, Parser)]
#[command(
    name = "sgntk",
    version,
    about,
    long_about,
    arg_required_else_help = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Kernel matrix K(X, Y) (analytic, or the mean empirical kernel of finite networks).
    ///
    /// Example: sgntk kernel --kind sgntk --activation sign --surrogate erf-prime --x X.csv
    Kernel(KernelArgs),
    /// Infinite-width GP prediction at the end of training (--time inf, the default) or after
    /// --time T steps: CSV `mean,std`, one row per test point.
    ///
    /// To compare with `sgntk train --steps T --lr η` give the same discrete time:
    /// `--time T --lr η --discrete`. `--kind nw` writes the sign NTK's Nadaraya–Watson classes.
    ///
    /// Example: sgntk predict --kind sgntk --activation sign --train T.csv --test X.csv --time 30000
    /// --discrete
    Predict(PredictArgs),
    /// Train an ensemble and write each network's outputs on the test points and the loss curve.
    ///
    /// Example: sgntk train --activation sign --mode sgl --width 500 --nets 10 --steps 3000
    /// --train T.csv --test X.csv --out run1
    Train(TrainArgs),
    /// Reproduce a figure of the paper: PNG, SVG, CSV data and a JSON record of the run.
    ///
    /// Figures: 1 (empirical NTK at t = 0 and after GD vs analytic, m × n grid), 2 (the same for the
    /// SG-NTK and SGL), 3a (sign networks trained by SGL vs the SG-NTK GP and the Σ regression),
    /// 3b (ensemble means over widths), b1 (target and training points), b2 (3a with κ = 0.2),
    /// b3 / b4 (MSE of the empirical NTK / SG-NTK vs width, from the runs of 1 / 2), all.
    ///
    /// Outputs in --out: FIG.png, FIG.svg, FIG.csv (the plotted data, long format) and
    /// FIG.json (settings, seed, backend, elapsed time, summary numbers). Trained networks are
    /// saved in --out/cache as they finish: re-running the same command resumes an interrupted run
    /// and gives the same numbers. A --config TOML file overrides any preset setting, e.g.
    /// `[fig3a]` `widths = [100]` `nets = 20`; unknown keys are errors.
    ///
    /// Example: sgntk figure 3a --preset quick --out figures
    Figure(FigureArgs),
    /// Time training steps, kernels and matmuls on this machine (GFLOP/s vs burn's matmul).
    ///
    /// Example: sgntk bench --widths 100,500,1000 --nets 1,100 --out bench.csv
    Bench(BenchArgs),
    /// Run one figure, or train / predict / kernel on your own files, over a grid of settings (a
    /// TOML file): one sub-directory per grid point and OUT/sweep.csv with a row per grid point
    /// (grid values and summary numbers, or losses).
    ///
    /// Example: sgntk sweep sweep.toml --out sweep1
    Sweep(SweepArgs),
    /// Submit a figure or a sweep to a Slurm cluster as a job array of --shards tasks (each runs
    /// `--shard K/N`) plus an assemble job that runs after all of them and writes the figure.
    ///
    /// Writes OUT/slurm/job.sbatch and OUT/slurm/assemble.sbatch and submits them with sbatch
    /// when it is on the PATH (--print: only write them). Logs: OUT/slurm/task-K.log.
    /// Re-submitting after a failed task trains only the chunks still missing.
    ///
    /// Example: sgntk slurm --shards 32 --cpus-per-task 2 figure 3a --preset paper --out /scratch/fig3a
    Slurm(SlurmArgs),
    /// Recompute Fig. 3's statistics (coverage, std_ratio, mean_z_rms, RMS distances, sampling
    /// floor) from a figure's CSV — fig3a, figb2 or kappa, plain or .csv.gz — with the figures'
    /// own code; prints JSON (one group per κ and t for the κ study).
    ///
    /// Example: sgntk stats docs/reproduction/figb2.csv
    Stats(StatsArgs),
}

/// `sgntk stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The figure's CSV (fig3a, figb2, kappa; `.csv` or gzip-compressed `.csv.gz`).
    pub file: PathBuf,
    /// Write the JSON here instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `sgntk sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file: `figure = "3a"` (optional `preset`) or `command = "train"` (`predict`,
    /// `kernel`: on your own files), a `[set]` table of fixed settings or flags and a `[grid]`
    /// table of lists (every combination is run; for a figure `seed` is the network seed).
    pub file: PathBuf,
    /// Output directory (one sub-directory per grid point, and sweep.csv).
    #[arg(long, default_value = "sweep")]
    pub out: PathBuf,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Seed of the network initializations (unless the grid has `seed`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads for training: chunks of networks in parallel, and the engines inside them (default:
    /// the number of CPU threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train only shard K of N of every grid point's chunks (0 ≤ K < N) and exit; a later run
    /// without --shard assembles.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// `sgntk slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// Number of array tasks (shards).
    #[arg(long)]
    pub shards: usize,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task (Slurm format, e.g. 2:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (also each task's --threads).
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Memory per task (e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Only write the job scripts; do not submit.
    #[arg(long)]
    pub print: bool,
    /// What to run.
    #[command(subcommand)]
    pub target: SlurmTarget,
}

/// What `sgntk slurm` runs.
#[derive(Debug, Subcommand)]
pub enum SlurmTarget {
    /// A figure (the arguments of `sgntk figure`).
    Figure(FigureArgs),
    /// A sweep (the arguments of `sgntk sweep`).
    Sweep(SweepArgs),
}

/// `sgntk bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Hidden widths (depth 3).
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
    pub widths: Vec<usize>,
    /// Ensemble sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    pub nets: Vec<usize>,
    /// Timed steps per case.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed training steps before the timed ones (late training, where few sign units
    /// change, is what the lowrank engine speeds up).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Training engines to time: auto, fused, lowrank, explicit, autodiff (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_engine, default_value = "fused,explicit")]
    pub engines: Vec<sgntk_model::Engine>,
    /// Width at which the generic per-sample-Jacobian kernel is timed too (0 = never).
    #[arg(long, default_value_t = 1000)]
    pub generic_width: usize,
    /// Time only the analytic kernel matrices (no training steps, no empirical kernels).
    #[arg(long)]
    pub analytic_only: bool,
    /// Points of the analytic kernel matrices (N × N closed forms, N/10 × N/10 tanh, N/100 ×
    /// N/100 tanh by the adaptive rule; 0: none).
    #[arg(long, default_value_t = 1000)]
    pub kernel_points: usize,
    /// Each closed-form analytic kernel matrix is timed this many times and the best is
    /// reported (a noisy machine needs more: compare with `bench/nt_reference.py --reps`).
    #[arg(long, default_value_t = 5)]
    pub kernel_reps: usize,
    /// Write the results as CSV here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Which analytic kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The NNGP Σ (covariance of the network at initialization).
    Nngp,
    /// The NTK Θ (gradient descent): φ' on both sides.
    Ntk,
    /// The SG-NTK I (SGL): rows carry the true derivative φ', columns the surrogate --surrogate.
    Sgntk,
    /// Any derivative pair: --g1 on the rows, --g2 on the columns (`true` = φ').
    Generalized,
    /// `predict` only: the Nadaraya–Watson classifier sign(Θ(x, X) Y) of the singular sign NTK.
    Nw,
}

/// `--kind` and, for `--kind generalized`, its derivative pair.
#[derive(Debug, Clone, Args)]
pub struct KindArgs {
    /// Kernel kind.
    #[arg(long, value_enum, required_unless_present = "load")]
    pub kind: Option<Kind>,
    /// With --kind generalized: the derivative on the first argument (rows), a surrogate spec or
    /// `true` for φ' (e.g. `--g1 erf-prime --g2 erf-prime`: a surrogate on both sides).
    #[arg(long, value_parser = parse_surrogate, required_if_eq("kind", "generalized"))]
    pub g1: Option<Surrogate>,
    /// With --kind generalized: the derivative on the second argument (columns).
    #[arg(long, value_parser = parse_surrogate, required_if_eq("kind", "generalized"))]
    pub g2: Option<Surrogate>,
}

impl KindArgs {
    /// The derivative pair of this kernel with σ̃ = `surrogate` (`None`: the NNGP).
    pub fn pair(&self, surrogate: Surrogate) -> Result<Option<DerivativePair>, String> {
        let kind = self.kind.ok_or("--kind is required")?;
        if kind != Kind::Generalized && (self.g1.is_some() || self.g2.is_some()) {
            return Err("--g1/--g2 only apply to --kind generalized".into());
        }
        Ok(match kind {
            Kind::Nngp => None,
            Kind::Ntk | Kind::Nw => Some(DerivativePair::NTK),
            Kind::Sgntk => Some(DerivativePair::sg_ntk(surrogate)),
            Kind::Generalized => {
                let (Some(g1), Some(g2)) = (self.g1, self.g2) else {
                    return Err("--kind generalized needs --g1 SPEC and --g2 SPEC".into());
                };
                Some(DerivativePair { g1, g2 })
            }
        })
    }

    /// True when this kernel uses `--surrogate` (so that a given one is not silently ignored).
    pub fn uses_surrogate(&self) -> bool {
        self.kind == Some(Kind::Sgntk)
    }
}

/// Network hyper-parameters shared by the subcommands: the MLP flags, or `--net FILE`.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Any network as a TOML description instead of the MLP flags (--activation, --depth,
    /// --sigma-w, --sigma-b, --kappa, --width): `input_dim` (or `input_shape = [H, W, C]` /
    /// `[L, C]` for images and signals: a CSV row is one input, row-major (h, w, c)), `sigma_w`,
    /// `sigma_b`, `kappa` and `layers`, e.g. `[{ dense = { width = 256 } }, { residual = [{ act
    /// = "sign" }, { dense = { width = 256 } }] }, { act = "sign" }, { dense = { width = 1 } }]`;
    /// convolutional layers: `{ conv = { channels = 32, filter = [3, 3], padding = "same" } }`
    /// (or "valid", "circular"), "flatten", "global-average-pool".
    /// With --load: the networks in the file must be of this description.
    #[arg(long, conflicts_with_all = ["activation", "depth", "sigma_w", "sigma_b", "kappa"])]
    pub net: Option<PathBuf>,
    /// Activation spec (e.g. `erf:5`, `sign`).
    #[arg(long, value_parser = parse_activation, required_unless_present_any = ["net", "load"],
          conflicts_with = "load")]
    pub activation: Option<Activation>,
    /// Surrogate derivative spec used by SGL (`--mode sgl`) and the SG-NTK (`--kind sgntk`)
    /// [default: erf-prime]; elsewhere it is ignored with a warning.
    #[arg(long, value_parser = parse_surrogate)]
    pub surrogate: Option<Surrogate>,
    /// Number of layers L (2 hidden layers = 3).
    #[arg(long, default_value_t = 3, conflicts_with = "load")]
    pub depth: usize,
    /// Weight scale σw.
    #[arg(
        long = "sigma-w",
        default_value_t = 1.0,
        allow_negative_numbers = true,
        conflicts_with = "load"
    )]
    pub sigma_w: f64,
    /// Bias scale σb.
    #[arg(
        long = "sigma-b",
        default_value_t = 0.1,
        allow_negative_numbers = true,
        conflicts_with = "load"
    )]
    pub sigma_b: f64,
    /// Last-layer scale κ.
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        conflicts_with = "load"
    )]
    pub kappa: f64,
}

/// `sgntk kernel`.
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// Kernel kind (and the pair of --kind generalized).
    #[command(flatten)]
    pub kind: KindArgs,
    /// Network hyper-parameters.
    #[command(flatten)]
    pub net: NetArgs,
    /// Row points (CSV, or .npy: 2-D (points, features) or 4-D (points, H, W, C)).
    #[arg(long)]
    pub x: PathBuf,
    /// Column points (CSV or .npy); default: the row points.
    #[arg(long)]
    pub y: Option<PathBuf>,
    /// Output file: .npy (float64) by its extension, else CSV (default, or `-`: CSV on stdout). A
    /// file is replaced atomically (a symbolic link is written through to its target); a device or
    /// FIFO such as /dev/stdout is written directly.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Mean empirical kernel of `--nets` networks of width `--width` instead of the analytic one.
    #[arg(long)]
    pub empirical: bool,
    /// Hidden width (with --empirical; the widths of --net are in its file).
    #[arg(long, conflicts_with_all = ["net", "load"])]
    pub width: Option<usize>,
    /// Networks to average (with --empirical).
    #[arg(long, default_value_t = 10, conflicts_with = "load")]
    pub nets: usize,
    /// Initialization seed (with --empirical).
    #[arg(long, default_value_t = 0, conflicts_with = "load")]
    pub seed: u64,
    /// With --empirical: the mean empirical kernel of the networks saved by `sgntk train --save`
    /// (their network description is in the file).
    #[arg(long, requires = "empirical")]
    pub load: Option<PathBuf>,
    /// Compute backend: flex, ndarray or wgpu (with --empirical).
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
}

/// `sgntk predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Kernel that drives training (`nngp`: the Σ-only regression; `nw`: the sign NTK's
    /// Nadaraya–Watson classifier); not with --load.
    #[command(flatten)]
    pub kind: KindArgs,
    /// Network hyper-parameters.
    #[command(flatten)]
    pub net: NetArgs,
    /// Training points: inputs, then the target in the last column (CSV or a 2-D .npy), or an
    /// .npz with arrays `x` and `y`.
    #[arg(long, required_unless_present = "load", conflicts_with = "load")]
    pub train: Option<PathBuf>,
    /// The last N columns of --train are targets (an .npz's `y` of shape (points, N)); the
    /// output is then `mean_0,…,mean_{N−1},std` (one std: the GP's covariance is the same for
    /// every target).
    #[arg(long, default_value_t = 1, conflicts_with = "load")]
    pub targets: usize,
    /// Test points (CSV or .npy).
    #[arg(long)]
    pub test: PathBuf,
    /// Training time: `inf` or a number of steps of learning rate --lr [default: inf; not with
    /// --kind nngp].
    #[arg(long, value_parser = parse_time, conflicts_with = "load")]
    pub time: Option<Time>,
    /// Learning rate η [default: 0.1; not with --kind nngp].
    #[arg(long, allow_negative_numbers = true, conflicts_with = "load")]
    pub lr: Option<f64>,
    /// Use T discrete steps of the linearized network, (Id − η K/d)^T, instead of gradient flow.
    #[arg(long, conflicts_with = "load")]
    pub discrete: bool,
    /// Output file: .npy (float64) by its extension, else CSV (default, or `-`: CSV on stdout). A
    /// file is replaced atomically (a symbolic link is written through to its target); a device or
    /// FIFO such as /dev/stdout is written directly.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead of the GP: the outputs of the networks saved by `sgntk train --save` on the test
    /// points (one column per network).
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Compute backend for --load: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
}

/// Learning rule of `sgntk train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Gradient descent (true derivative).
    Gd,
    /// Surrogate gradient learning (--surrogate in the backward pass).
    Sgl,
}

impl Mode {
    /// The learning rule with `--surrogate` σ̃.
    pub fn rule(self, surrogate: Surrogate) -> LearningRule {
        match self {
            Mode::Gd => LearningRule::Gd,
            Mode::Sgl => LearningRule::Sgl(surrogate),
        }
    }
}

/// `sgntk train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Network hyper-parameters.
    #[command(flatten)]
    pub net: NetArgs,
    /// Learning rule.
    #[arg(
        long,
        value_enum,
        required_unless_present = "load",
        conflicts_with = "load"
    )]
    pub mode: Option<Mode>,
    /// Hidden width n (the widths of --net are in its file).
    #[arg(long, required_unless_present_any = ["net", "load"], conflicts_with_all = ["net", "load"])]
    pub width: Option<usize>,
    /// Number of networks.
    #[arg(long, required_unless_present = "load", conflicts_with = "load")]
    pub nets: Option<usize>,
    /// Number of full-batch steps (with --load: more steps).
    #[arg(long)]
    pub steps: usize,
    /// Learning rate η.
    #[arg(
        long,
        default_value_t = 0.1,
        allow_negative_numbers = true,
        conflicts_with = "load"
    )]
    pub lr: f64,
    /// Initialization seed.
    #[arg(long, default_value_t = 0, conflicts_with = "load")]
    pub seed: u64,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Training engine of MLP networks: auto, fused, lowrank, explicit or autodiff (see the
    /// README; other --net networks train with autodiff). A run continued with --load equals an
    /// uninterrupted one bit for bit on fused, explicit and autodiff; lowrank (auto's choice on the
    /// CPU) on sign/step layers of width ≥ 256 restarts its deferred updates from the saved
    /// weights, equal only to f32 rounding.
    #[arg(long, value_parser = parse_engine, default_value = "auto")]
    pub engine: sgntk_model::Engine,
    /// Training points: inputs, then the target in the last column (CSV or a 2-D .npy), or an
    /// .npz with arrays `x` and `y`.
    #[arg(long)]
    pub train: PathBuf,
    /// The last N columns of --train are targets (an .npz's `y` of shape (points, N)): the
    /// networks get N outputs (with --net, its last layer must have N), outputs.csv the columns
    /// `net_I_out_J`.
    #[arg(long, default_value_t = 1)]
    pub targets: usize,
    /// Test points (CSV or .npy).
    #[arg(long)]
    pub test: PathBuf,
    /// Output directory: outputs.csv (one column per network), loss.csv (step, loss); or an
    /// .npz file with the arrays `outputs` and `loss` (the same tables).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the trained networks, their description and the training settings to this
    /// file (safetensors; see the README).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Continue training the networks of this file (from `--save`) for --steps more steps, with
    /// their learning rule, surrogate and learning rate.
    #[arg(long)]
    pub load: Option<PathBuf>,
}

/// `sgntk figure`.
#[derive(Debug, Args)]
pub struct FigureArgs {
    /// Figure: 1, 2, 3a, 3b, b1, b2, b3, b4, snn, cnn, digits, kappa (see `sgntk figure list`),
    /// `paper` (the paper's figures: 1, 2, 3a, 3b, B.1–B.4) or `all`.
    pub which: String,
    /// Scale: quick (minutes on a laptop) or paper (the paper's settings).
    #[arg(
        long,
        value_enum,
        default_value = "quick",
        default_value_if("paper", ArgPredicate::IsPresent, "paper")
    )]
    pub preset: Preset,
    /// The same as --preset paper.
    #[arg(long, conflicts_with = "preset")]
    pub paper: bool,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Seed of the network initializations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory; re-running with the same directory resumes finished networks.
    #[arg(long, default_value = "figures")]
    pub out: PathBuf,
    /// TOML file overriding preset settings, one table per figure (tables fig1, fig3a, b2, …).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Training points of every figure: paper (the paper's own 15 + 15 points) or seeded (drawn
    /// from each figure's data_seed). Default: the preset's (paper preset: paper; quick: seeded).
    #[arg(long, value_parser = parse_data)]
    pub data: Option<DataSource>,
    /// Threads for training: chunks of networks in parallel, and the engines inside them (default:
    /// the number of CPU threads). The numbers do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train only shard K of N of the figure's chunks (0 ≤ K < N; balanced by cost), save them in
    /// --out/cache and exit without plotting. A later run without --shard on the same --out finds
    /// every chunk and writes the figure, identical to an unsharded run.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Image files to write per figure: png, svg or both.
    #[arg(long, value_enum, default_value = "both")]
    pub format: Format,
}

impl FigureArgs {
    /// The `sgntk figure` arguments that reproduce this run (without --threads and --shard), with
    /// absolute paths.
    pub fn to_args(&self) -> Result<Vec<String>, ExpError> {
        let mut a = vec![
            "figure".to_string(),
            self.which.clone(),
            "--preset".into(),
            self.preset
                .to_possible_value()
                .map_or("quick".into(), |v| v.get_name().to_string()),
            "--backend".into(),
            self.backend.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--out".into(),
            absolute(&self.out)?,
        ];
        if let Some(c) = &self.config {
            a.extend(["--config".into(), absolute(c)?]);
        }
        if let Some(d) = self.data {
            a.extend(["--data".into(), d.to_string()]);
        }
        if self.format != Format::Both {
            a.extend([
                "--format".into(),
                format!("{:?}", self.format).to_lowercase(),
            ]);
        }
        Ok(a)
    }
}

impl SweepArgs {
    /// The `sgntk sweep` arguments that reproduce this run (without --threads and --shard).
    pub fn to_args(&self) -> Result<Vec<String>, ExpError> {
        Ok(vec![
            "sweep".to_string(),
            absolute(&self.file)?,
            "--out".into(),
            absolute(&self.out)?,
            "--backend".into(),
            self.backend.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ])
    }
}

/// `p` as an absolute path (relative to the current directory).
fn absolute(p: &std::path::Path) -> Result<String, ExpError> {
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .map_err(|e| ExpError::output(p, e))
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

fn parse_activation(s: &str) -> Result<Activation, String> {
    s.parse().map_err(|e: sgntk_model::SpecError| e.to_string())
}

fn parse_surrogate(s: &str) -> Result<Surrogate, String> {
    s.parse().map_err(|e: sgntk_model::SpecError| e.to_string())
}

pub fn parse_engine(s: &str) -> Result<sgntk_model::Engine, String> {
    use sgntk_model::Engine;
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(Engine::Auto),
        "fused" => Ok(Engine::Fused),
        "lowrank" => Ok(Engine::Lowrank),
        "explicit" => Ok(Engine::Explicit),
        "autodiff" => Ok(Engine::Autodiff),
        other => Err(format!(
            "unknown engine `{}` (expected auto, fused, lowrank, explicit or autodiff)",
            sgntk_model::error::excerpt(other)
        )),
    }
}

fn parse_data(s: &str) -> Result<DataSource, String> {
    s.trim().to_ascii_lowercase().parse()
}

pub fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse()
        .map_err(|e: sgntk_model::ModelError| e.to_string())
}

/// Training time of `sgntk predict`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Time {
    /// t = ∞.
    Infinite,
    /// A number of steps.
    Steps(f64),
}

fn parse_time(s: &str) -> Result<Time, String> {
    if s.trim().eq_ignore_ascii_case("inf") {
        return Ok(Time::Infinite);
    }
    match s.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(Time::Steps(t)),
        _ => Err(format!(
            "`{}` is not `inf` or a non-negative number of steps",
            sgntk_model::error::excerpt(s)
        )),
    }
}

/// Parses `figure`'s argument: one figure, `paper` or `all`.
pub fn parse_figures(which: &str) -> Result<Vec<FigureId>, ExpError> {
    if which.trim().eq_ignore_ascii_case("all") {
        Ok(FigureId::all().collect())
    } else if which.trim().eq_ignore_ascii_case("paper") {
        Ok(FigureId::paper().collect())
    } else {
        Ok(vec![which.parse::<FigureId>().map_err(ExpError::Usage)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_names_the_papers_figures_and_all_every_figure() {
        let stems = |w: &str| -> Vec<&str> {
            let figures = parse_figures(w).unwrap();
            figures.iter().map(|f| f.stem()).collect()
        };
        assert_eq!(
            stems(" Paper "),
            ["figb1", "fig1", "fig2", "figb3", "figb4", "fig3a", "fig3b", "figb2"]
        );
        assert_eq!(stems("all").len(), crate::figures::REGISTRY.len());
        assert_eq!(stems("3a"), ["fig3a"]);
        assert!(parse_figures("papers").is_err());
    }
}

//! The `sgntk` command line. Flag names and file formats are a contract (see the README); any
//! error prints one line `error: …` to stderr and exits with status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sgntk_model::data::DataSource;
use sgntk_model::{Activation, BackendKind, DerivativePair, LearningRule, Surrogate};

use crate::commands;
use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::plot::Format;
use crate::settings::{Preset, Settings};
use crate::shard::Shard;
use crate::sweep::SweepSpec;

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
    /// Infinite-width GP prediction after training: CSV `mean,std`, one row per test point.
    ///
    /// Example: sgntk predict --kind sgntk --activation sign --train T.csv --test X.csv --time 30000
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
    /// Run one figure over a grid of settings (a TOML file): one sub-directory per grid point and
    /// OUT/sweep.csv with a row per grid point (grid values and summary numbers).
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
}

/// `sgntk sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file: `figure = "3a"`, optional `preset`, a `[set]` table of fixed settings and a
    /// `[grid]` table of lists (every combination is run; `seed` is the network seed).
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
    /// Write the results as CSV here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Which analytic kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The NNGP Σ (covariance of the network at initialization).
    Nngp,
    /// The NTK Θ (gradient descent).
    Ntk,
    /// The SG-NTK I (SGL): rows carry the true derivative, columns the surrogate.
    Sgntk,
}

impl Kind {
    /// The derivative pair of this kernel with `--surrogate` σ̃ (`None`: the NNGP).
    pub fn pair(self, surrogate: Surrogate) -> Option<DerivativePair> {
        match self {
            Kind::Nngp => None,
            Kind::Ntk => Some(DerivativePair::NTK),
            Kind::Sgntk => Some(DerivativePair::sg_ntk(surrogate)),
        }
    }
}

/// Network hyper-parameters shared by the subcommands.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Activation spec (e.g. `erf:5`, `sign`).
    #[arg(long, value_parser = parse_activation)]
    pub activation: Activation,
    /// Surrogate derivative spec used by SGL / the SG-NTK.
    #[arg(long, value_parser = parse_surrogate, default_value = "erf-prime")]
    pub surrogate: Surrogate,
    /// Number of layers L (2 hidden layers = 3).
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Weight scale σw.
    #[arg(long = "sigma-w", default_value_t = 1.0, allow_negative_numbers = true)]
    pub sigma_w: f64,
    /// Bias scale σb.
    #[arg(long = "sigma-b", default_value_t = 0.1, allow_negative_numbers = true)]
    pub sigma_b: f64,
    /// Last-layer scale κ.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub kappa: f64,
}

/// `sgntk kernel`.
#[derive(Debug, Args)]
pub struct KernelArgs {
    /// Kernel kind.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Network hyper-parameters.
    #[command(flatten)]
    pub net: NetArgs,
    /// Row points (CSV).
    #[arg(long)]
    pub x: PathBuf,
    /// Column points (CSV); default: the row points.
    #[arg(long)]
    pub y: Option<PathBuf>,
    /// Output CSV (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Mean empirical kernel of `--nets` networks of width `--width` instead of the analytic one.
    #[arg(long)]
    pub empirical: bool,
    /// Hidden width (with --empirical).
    #[arg(long)]
    pub width: Option<usize>,
    /// Networks to average (with --empirical).
    #[arg(long, default_value_t = 10)]
    pub nets: usize,
    /// Initialization seed (with --empirical).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute backend: flex, ndarray or wgpu (with --empirical).
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
}

/// `sgntk predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Kernel that drives training (`nngp` = Σ-only regression).
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Network hyper-parameters.
    #[command(flatten)]
    pub net: NetArgs,
    /// Training points: inputs, then the target in the last column (CSV).
    #[arg(long)]
    pub train: PathBuf,
    /// Test points (CSV).
    #[arg(long)]
    pub test: PathBuf,
    /// Training time: `inf` or a number of steps of learning rate --lr [default: inf; not with
    /// --kind nngp].
    #[arg(long, value_parser = parse_time)]
    pub time: Option<Time>,
    /// Learning rate η [default: 0.1; not with --kind nngp].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Use T discrete steps of the linearized network, (Id − η K/d)^T, instead of gradient flow.
    #[arg(long)]
    pub discrete: bool,
    /// Output CSV (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
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
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Hidden width n.
    #[arg(long)]
    pub width: usize,
    /// Number of networks.
    #[arg(long)]
    pub nets: usize,
    /// Number of full-batch steps.
    #[arg(long)]
    pub steps: usize,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub lr: f64,
    /// Initialization seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Training points: inputs, then the target (CSV).
    #[arg(long)]
    pub train: PathBuf,
    /// Test points (CSV).
    #[arg(long)]
    pub test: PathBuf,
    /// Output directory: outputs.csv (one column per network), loss.csv.
    #[arg(long)]
    pub out: PathBuf,
}

/// `sgntk figure`.
#[derive(Debug, Args)]
pub struct FigureArgs {
    /// Figure: 1, 2, 3a, 3b, b1, b2, b3, b4, snn (see `sgntk figure list`) or all.
    pub which: String,
    /// Scale: quick (minutes on a laptop) or paper (the paper's settings).
    #[arg(long, value_enum, default_value = "quick")]
    pub preset: Preset,
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

fn parse_engine(s: &str) -> Result<sgntk_model::Engine, String> {
    use sgntk_model::Engine;
    match s.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(Engine::Auto),
        "fused" => Ok(Engine::Fused),
        "lowrank" => Ok(Engine::Lowrank),
        "explicit" => Ok(Engine::Explicit),
        "autodiff" => Ok(Engine::Autodiff),
        other => Err(format!(
            "unknown engine `{other}` (expected auto, fused, lowrank, explicit or autodiff)"
        )),
    }
}

fn parse_data(s: &str) -> Result<DataSource, String> {
    s.trim().to_ascii_lowercase().parse()
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
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
            "`{s}` is not `inf` or a non-negative number of steps"
        )),
    }
}

/// Parses `figure`'s argument: one figure or `all`.
pub fn parse_figures(which: &str) -> Result<Vec<FigureId>, ExpError> {
    if which.trim().eq_ignore_ascii_case("all") {
        Ok(FigureId::all().collect())
    } else {
        Ok(vec![which.parse::<FigureId>().map_err(ExpError::Usage)?])
    }
}

/// Runs figures and prints one line per figure with its summary location.
pub fn run_figures(args: &FigureArgs) -> Result<(), ExpError> {
    if args.which.trim().eq_ignore_ascii_case("list") {
        for f in FigureId::all() {
            println!(
                "{:5} [{}] {}",
                f.short_name(),
                f.settings_table(),
                f.title()
            );
        }
        return Ok(());
    }
    let figures = parse_figures(&args.which)?;
    let settings = Settings::load(args.preset, args.data, args.config.as_deref())?;
    let opts = RunOptions {
        out: args.out.clone(),
        backend: args.backend,
        seed: args.seed,
        preset: args.preset,
        settings,
        progress: true,
        threads: args
            .threads
            .unwrap_or_else(crate::figures::default_threads)
            .max(1),
        shard: args.shard,
        format: args.format,
    };
    crate::io::check_out_dir(&opts.out)?;
    for id in figures {
        let Some(report) = run_figure(id, &opts)? else {
            eprintln!(
                "{}: shard {} done; run again without --shard to write the figure",
                id.stem(),
                args.shard.map(|s| s.to_string()).unwrap_or_default()
            );
            continue;
        };
        let image = match opts.format {
            Format::Svg => "svg",
            _ => "png",
        };
        eprintln!(
            "{}: {:.1} s ({} chunks trained, {} resumed) -> {}",
            report.figure,
            report.elapsed_s,
            report.trained_chunks,
            report.resumed_chunks,
            opts.out.join(id.stem()).with_extension(image).display()
        );
    }
    Ok(())
}

fn bench(a: &BenchArgs) -> Result<(), ExpError> {
    if a.widths.contains(&0) || a.nets.contains(&0) || a.steps == 0 {
        return Err(ExpError::Usage(
            "--widths, --nets and --steps must be positive".into(),
        ));
    }
    // Before measuring: the output file's directory is created and writable.
    if let Some(out) = &a.out {
        crate::io::check_out_file(out)?;
    }
    let rows = crate::bench::run(&crate::bench::BenchOptions {
        widths: a.widths.clone(),
        nets: a.nets.clone(),
        steps: a.steps,
        warmup: a.warmup,
        backend: a.backend,
        engines: a.engines.clone(),
        generic_width: (a.generic_width > 0).then_some(a.generic_width),
    })?;
    if let Some(out) = &a.out {
        let mut t = crate::io::Table::new(&[
            "case",
            "width",
            "nets",
            "ms",
            "gflops",
            "matmul_gflops",
            "changed_units_per_step",
        ]);
        for r in &rows {
            use crate::io::Cell;
            let opt = |v: Option<f64>| v.map_or(Cell::Empty, Cell::Num);
            t.push(&[
                Cell::Text(&r.case.replace(',', ";")),
                Cell::Int(r.width),
                Cell::Int(r.nets),
                Cell::Num(r.ms),
                opt(r.gflops),
                opt(r.matmul_gflops),
                opt(r.changed_units_per_step),
            ]);
        }
        t.write(out)?;
    }
    Ok(())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), ExpError> {
    match cli.command {
        Command::Kernel(a) => commands::kernel(&a),
        Command::Predict(a) => commands::predict(&a),
        Command::Train(a) => commands::train(&a),
        Command::Figure(a) => run_figures(&a),
        Command::Bench(a) => bench(&a),
        Command::Sweep(a) => run_sweep(&a),
        Command::Slurm(a) => slurm(&a),
    }
}

fn run_sweep(a: &SweepArgs) -> Result<(), ExpError> {
    let spec = SweepSpec::load(&a.file)?;
    let settings = Settings::preset(spec.preset);
    let opts = RunOptions {
        out: a.out.clone(),
        backend: a.backend,
        seed: a.seed,
        preset: spec.preset,
        settings,
        progress: true,
        threads: a
            .threads
            .unwrap_or_else(crate::figures::default_threads)
            .max(1),
        shard: a.shard,
        ..RunOptions::default()
    };
    crate::io::check_out_dir(&opts.out)?;
    let n = crate::sweep::run_sweep(&spec, &opts)?;
    match a.shard {
        Some(s) => eprintln!("sweep: shard {s} of {n} grid points done"),
        None => eprintln!(
            "sweep: {n} grid points -> {}",
            a.out.join("sweep.csv").display()
        ),
    }
    Ok(())
}

fn slurm(a: &SlurmArgs) -> Result<(), ExpError> {
    if a.shards == 0 || a.cpus_per_task == 0 {
        return Err(ExpError::Usage(
            "--shards and --cpus-per-task must be ≥ 1".into(),
        ));
    }
    let (name, out, args) = match &a.target {
        SlurmTarget::Figure(f) => {
            if f.shard.is_some() {
                return Err(ExpError::Usage("sgntk slurm sets --shard itself".into()));
            }
            // fail now, not in the cluster: the figures and settings must be valid
            parse_figures(&f.which)?;
            Settings::load(f.preset, f.data, f.config.as_deref())?;
            (format!("sgntk-{}", f.which), f.out.clone(), f.to_args()?)
        }
        SlurmTarget::Sweep(s) => {
            if s.shard.is_some() {
                return Err(ExpError::Usage("sgntk slurm sets --shard itself".into()));
            }
            SweepSpec::load(&s.file)?;
            ("sgntk-sweep".to_string(), s.out.clone(), s.to_args()?)
        }
    };
    crate::io::check_out_dir(&out)?;
    let exe =
        std::env::current_exe().map_err(|e| ExpError::Usage(format!("sgntk's own path: {e}")))?;
    let mut command = vec![exe.display().to_string()];
    command.extend(args);
    let options = crate::slurm::SlurmOptions {
        shards: a.shards,
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: a.cpus_per_task,
        mem: a.mem.clone(),
    };
    let dir = std::path::absolute(out.join("slurm")).map_err(|e| ExpError::output(&out, e))?;
    let scripts = crate::slurm::scripts(&name, &command, &dir, &options);
    let (array, assemble) = crate::slurm::write_scripts(&dir, &scripts)?;
    if a.print || !crate::slurm::have_sbatch() {
        let why = if a.print {
            ""
        } else {
            " (sbatch is not on the PATH)"
        };
        eprintln!(
            "wrote {} and {}{why}; submit with: id=$(sbatch --parsable {}) && sbatch --dependency=afterok:$id {}",
            array.display(),
            assemble.display(),
            array.display(),
            assemble.display()
        );
        return Ok(());
    }
    let (id, id2) = crate::slurm::submit(&array, &assemble)?;
    println!("{id} {id2}");
    eprintln!(
        "submitted array {id} ({} tasks) and assemble job {id2}; watch: squeue -j {id},{id2}; logs: {}",
        a.shards,
        dir.display()
    );
    Ok(())
}

/// Prints `error: …` and returns exit status 2.
fn fail(e: &ExpError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// Help and version go to stdout in full (status 0); usage errors become one line (status 2).
fn clap_exit(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" lists them on the next lines
    let mut message = first.to_string();
    if first.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
        message = format!("{first} {}", listed.join(", "));
    }
    eprintln!("error: {message} (see --help)");
    ExitCode::from(2)
}

/// The `sgntk` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Flags of the `figure` example.
#[derive(Debug, Parser)]
struct ExampleArgs {
    /// Figure: 1, 2, 3a, 3b, b1, b2, b3, b4, snn or all.
    which: String,
    /// Run at the paper's scale instead of the quick preset.
    #[arg(long)]
    paper: bool,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    backend: BackendKind,
    /// Seed of the network initializations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// TOML file overriding settings.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Entry point of `examples/figure.rs`: any registered figure at the quick preset, `--paper` for
/// the paper's scale.
pub fn example_main() -> ExitCode {
    let a = match ExampleArgs::try_parse() {
        Ok(a) => a,
        Err(e) => return clap_exit(e),
    };
    let args = FigureArgs {
        which: a.which,
        preset: if a.paper {
            Preset::Paper
        } else {
            Preset::Quick
        },
        backend: a.backend,
        seed: a.seed,
        out: a.out,
        config: a.config,
        data: None,
        threads: None,
        shard: None,
        format: Format::Both,
    };
    match run_figures(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

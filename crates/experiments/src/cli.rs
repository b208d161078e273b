//! The `sgntk` command line. Flag names and file formats are a contract (see the README); any
//! error prints one line `error: …` to stderr and exits with status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sgntk_model::{Activation, BackendKind, Surrogate};

use crate::commands;
use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::settings::{Preset, Settings};

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
    /// Outputs in --out: <fig>.png, <fig>.svg, <fig>.csv (the plotted data, long format) and
    /// <fig>.json (settings, seed, backend, elapsed time, summary numbers). Trained networks are
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
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = parse_backend, default_value = "flex")]
    pub backend: BackendKind,
    /// Training engines to time: auto, fused, explicit, autodiff (comma-separated).
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
    /// Training time: `inf` or a number of steps of learning rate --lr.
    #[arg(long, default_value = "inf", value_parser = parse_time)]
    pub time: Time,
    /// Learning rate η.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub lr: f64,
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
    /// Figure: 1, 2, 3a, 3b, b1, b2, b3, b4 or all.
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
    /// TOML file overriding preset settings, one table per figure ([fig1], [fig3a], [b2], …).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Chunks of networks trained in parallel (default: the number of CPU threads). The numbers
    /// do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
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
        "explicit" => Ok(Engine::Explicit),
        "autodiff" => Ok(Engine::Autodiff),
        other => Err(format!(
            "unknown engine `{other}` (expected auto, fused, explicit or autodiff)"
        )),
    }
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
        Ok(FigureId::ALL.to_vec())
    } else {
        Ok(vec![which.parse::<FigureId>().map_err(ExpError::Usage)?])
    }
}

/// Runs figures and prints one line per figure with its summary location.
pub fn run_figures(args: &FigureArgs) -> Result<(), ExpError> {
    let figures = parse_figures(&args.which)?;
    let settings = Settings::load(args.preset, args.config.as_deref())?;
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
    };
    for id in figures {
        let report = run_figure(id, &opts)?;
        eprintln!(
            "{}: {:.1} s ({} chunks trained, {} resumed) -> {}",
            report.figure,
            report.elapsed_s,
            report.trained_chunks,
            report.resumed_chunks,
            opts.out.join(format!("{}.png", id.stem())).display()
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
    let rows = crate::bench::run(&crate::bench::BenchOptions {
        widths: a.widths.clone(),
        nets: a.nets.clone(),
        steps: a.steps,
        backend: a.backend,
        engines: a.engines.clone(),
        generic_width: (a.generic_width > 0).then_some(a.generic_width),
    })?;
    if let Some(out) = &a.out {
        let mut t =
            crate::io::Table::new(&["case", "width", "nets", "ms", "gflops", "matmul_gflops"]);
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
    }
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
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("error: {first} (see --help)");
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

/// Flags of the per-figure example binaries.
#[derive(Debug, Parser)]
struct ExampleArgs {
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

/// Entry point of `examples/<fig>.rs`: the quick preset, `--paper` for the paper's scale.
pub fn example_main(id: FigureId) -> ExitCode {
    let a = match ExampleArgs::try_parse() {
        Ok(a) => a,
        Err(e) => return clap_exit(e),
    };
    let args = FigureArgs {
        which: id.stem().trim_start_matches("fig").to_string(),
        preset: if a.paper {
            Preset::Paper
        } else {
            Preset::Quick
        },
        backend: a.backend,
        seed: a.seed,
        out: a.out,
        config: a.config,
        threads: None,
    };
    match run_figures(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

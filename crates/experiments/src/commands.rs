//! The `kernel`, `predict` and `train` subcommands: read CSV, call the library, write CSV.

use std::io::Write as _;
use std::path::Path;

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, TrainConfig, TrainSet};
use sgntk_ntk::empirical::ensemble_mean;

use crate::cli::args::{
    parse_figures, BenchArgs, Cli, Command, FigureArgs, KernelArgs, Kind, NetArgs, PredictArgs,
    SlurmArgs, SlurmTarget, SweepArgs, Time, TrainArgs,
};
use crate::compute::{MlpFlags, Monitor, Network};
use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::io::{read_csv, read_train_csv, to_csv, write_all_atomic, write_csv};
use crate::io::{Cell, IoError, Table};
use crate::plot::Format;
use crate::settings::Settings;
use crate::sweep::SweepSpec;

/// Learning rate of `predict` when `--lr` is not given.
const DEFAULT_LR: f64 = 0.1;

/// `--activation` (clap requires it unless `--net` is given).
fn activation(net: &NetArgs) -> Result<Activation, ExpError> {
    net.activation
        .ok_or_else(|| ExpError::Usage("--activation is required (or --net FILE)".into()))
}

/// `--net FILE`: a network description in TOML, validated.
fn load_net(path: &Path) -> Result<Network, ExpError> {
    let text = std::fs::read_to_string(path).map_err(|e| ExpError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Network::from_toml(&text, &path.display().to_string())
}

/// The network of a subcommand: `--net`, or the MLP of the flags with hidden width `width`.
fn network(net: &NetArgs, width: Option<usize>) -> Result<Network, ExpError> {
    match &net.net {
        Some(path) => load_net(path),
        None => Ok(Network::Mlp(MlpFlags {
            activation: activation(net)?,
            depth: net.depth,
            sigma_w: net.sigma_w,
            sigma_b: net.sigma_b,
            kappa: net.kappa,
            width,
        })),
    }
}

/// The CLI's monitor: a progress bar, never stopped (Ctrl-C ends the process).
fn cli_monitor(stop: &mut dyn FnMut() -> bool) -> Monitor<'_> {
    Monitor {
        progress: true,
        stop,
    }
}

/// Reads a CSV of points with `dim` columns (when given).
fn read_points(path: &Path, dim: Option<usize>) -> Result<DMatrix<f64>, ExpError> {
    let m = read_csv(path)?;
    if let Some(d) = dim.filter(|d| *d != m.ncols()) {
        return Err(IoError::Columns {
            path: path.display().to_string(),
            expected: format!("{d} (the input dimension of the other file)"),
            got: m.ncols(),
        }
        .into());
    }
    Ok(m)
}

/// Writes CSV text to `out`, or to stdout.
fn emit(m: &DMatrix<f64>, header: Option<&[&str]>, out: Option<&Path>) -> Result<(), ExpError> {
    match out {
        Some(p) => Ok(write_csv(p, m, header)?),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(to_csv(m, header).as_bytes())
                .map_err(|e| ExpError::output(Path::new("<stdout>"), e))
        }
    }
}

/// `sgntk kernel`: analytic K(X, Y), or the mean empirical kernel over `--nets` networks.
pub fn kernel(a: &KernelArgs) -> Result<(), ExpError> {
    let x = read_points(&a.x, None)?;
    let y = match &a.y {
        Some(p) => read_points(p, Some(x.ncols()))?,
        None => x.clone(),
    };
    let k = if a.empirical {
        if a.width.is_none() && a.net.net.is_none() {
            return Err(ExpError::Usage(
                "--empirical needs --width N (the hidden width) or --net FILE".into(),
            ));
        }
        let net = network(&a.net, a.width)?;
        let mut never = || false;
        let kernels = crate::compute::empirical_kernels(
            &net,
            a.kind,
            a.net.surrogate,
            a.nets,
            a.seed,
            a.backend,
            &x,
            &y,
            &mut cli_monitor(&mut never),
        )?;
        ensemble_mean(&kernels)
    } else {
        if a.width.is_some() {
            return Err(ExpError::Usage(
                "--width only applies with --empirical (the analytic kernel is the infinite-width limit)"
                    .into(),
            ));
        }
        let net = network(&a.net, None)?;
        crate::compute::analytic_kernel(&net, a.kind, a.net.surrogate, &x, &y)?
    };
    emit(&k, None, a.out.as_deref())
}

/// `sgntk predict`: GP mean and standard deviation after training (docs/MATH.md §6).
pub fn predict(a: &PredictArgs) -> Result<(), ExpError> {
    let (xt, yt) = read_train_csv(&a.train, None)?;
    let x = read_points(&a.test, Some(xt.ncols()))?;
    if a.kind == Kind::Nngp && (a.time.is_some() || a.lr.is_some() || a.discrete) {
        return Err(ExpError::Usage(
            "--time, --lr and --discrete do not apply to --kind nngp (the NNGP regression is not trained: it has no time)"
                .into(),
        ));
    }
    let time = match a.time.unwrap_or(Time::Infinite) {
        Time::Infinite => f64::INFINITY,
        Time::Steps(t) => t,
    };
    let time = crate::compute::train_time(time, a.lr.unwrap_or(DEFAULT_LR), a.discrete)?;
    let net = network(&a.net, None)?;
    let gp = crate::compute::gp_prediction(&net, a.kind, a.net.surrogate, time, &xt, &yt, &x)?;
    let std = gp.std();
    let out = DMatrix::from_fn(
        x.nrows(),
        2,
        |i, j| if j == 0 { gp.mean[(i, 0)] } else { std[i] },
    );
    emit(&out, Some(&["mean", "std"]), a.out.as_deref())
}

/// `sgntk train`: trains an ensemble, writes `outputs.csv` (one column per network, one row per
/// test point) and `loss.csv` (`step,loss`, the mean loss over networks).
pub fn train(a: &TrainArgs) -> Result<(), ExpError> {
    // Before any work: the output directory exists (or is created) and is writable.
    crate::io::check_out_dir(&a.out)?;
    let (xt, yt) = read_train_csv(&a.train, None)?;
    let x = read_points(&a.test, Some(xt.ncols()))?;
    let net = network(&a.net, a.width)?;
    let config = TrainConfig {
        rule: a.mode.rule(a.net.surrogate),
        lr: a.lr,
        steps: a.steps,
        ..TrainConfig::default()
    };
    let data = TrainSet { x: xt, y: yt };
    let mut never = || false;
    let trained = crate::compute::train_networks(
        &net,
        &config,
        a.nets,
        a.seed,
        a.backend,
        &data,
        &x,
        &mut cli_monitor(&mut never),
    )?;
    let (outputs, mean_loss) = (trained.outputs, trained.loss);
    let table = DMatrix::from_fn(x.nrows(), outputs.len(), |i, k| outputs[k][(i, 0)]);
    let names: Vec<String> = (0..outputs.len()).map(|k| format!("net_{k}")).collect();
    let header: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut loss = Table::new(&["step", "loss"]);
    for (t, l) in mean_loss.iter().enumerate() {
        loss.push(&[Cell::Int(t), Cell::Num(*l)]);
    }
    // Both files or neither (each written in full to a temporary file first).
    write_all_atomic(&[
        (
            a.out.join("outputs.csv"),
            to_csv(&table, Some(&header)).into_bytes(),
        ),
        (a.out.join("loss.csv"), loss.to_csv().into_bytes()),
    ])?;
    eprintln!(
        "trained {} networks: loss {:.4e} -> {:.4e}; wrote {}",
        a.nets,
        mean_loss[0],
        mean_loss.last().copied().unwrap_or(f64::NAN),
        a.out.display()
    );
    Ok(())
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
        Command::Kernel(a) => kernel(&a),
        Command::Predict(a) => predict(&a),
        Command::Train(a) => train(&a),
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

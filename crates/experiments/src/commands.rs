//! The `kernel`, `predict` and `train` subcommands: read CSV or NumPy files, call the library,
//! write CSV or `.npy`; save and load trained networks ([`crate::networks`]).

use std::io::Write as _;
use std::path::Path;

use sgntk_model::fused::EngineState;
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    predict_flat, train_continuing, train_flat_ensemble, train_flat_networks, Activation, Engine,
    Ensemble, MlpConfig, NetSpec, Surrogate, TrainConfig, TrainSet,
};
use sgntk_ntk::empirical::{empirical_kernel, ensemble_mean, jacobian_kernel};
use sgntk_ntk::{
    gp_predict, kernel_matrix, nadaraya_watson, KernelKind, KernelSpec, Kernels, Method, TrainTime,
};

use crate::cli::args::{
    parse_figures, BenchArgs, Cli, Command, FigureArgs, KernelArgs, Kind, KindArgs, Mode, NetArgs,
    PredictArgs, SlurmArgs, SlurmTarget, StatsArgs, SweepArgs, Time, TrainArgs,
};
use crate::compute::check_finite_result as check_finite_output;
use crate::compute::{check_scalar_output, check_targets, Finite};
use crate::error::ExpError;
use crate::figures::{run_figure, FigureId, RunOptions};
use crate::io::{read_matrix, read_train_targets, to_csv, write_all_atomic, write_matrix};
use crate::io::{Cell, DataFormat, IoError, Table};
use crate::networks::{Networks, Saved, Training};
use crate::plot::Format;
use crate::settings::{one_line, Settings};
use crate::sweep::SweepSpec;

/// Learning rate of `predict` when `--lr` is not given.
const DEFAULT_LR: f64 = 0.1;

/// σ̃ of `--surrogate` (erf' when not given).
fn surrogate(net: &NetArgs) -> Surrogate {
    net.surrogate.unwrap_or(Surrogate::ErfPrime { a: 1.0 })
}

/// A one-line warning when `--surrogate` was given to a computation that does not use it.
fn warn_unused_surrogate(net: &NetArgs, used: bool, what: &str) {
    if !used {
        if let Some(g) = net.surrogate {
            eprintln!("warning: --surrogate {g} is ignored: {what} does not use a surrogate");
        }
    }
}

/// `--activation` (clap requires it unless `--net` is given).
fn activation(net: &NetArgs) -> Result<Activation, ExpError> {
    net.activation
        .ok_or_else(|| ExpError::Usage("--activation is required (or --net FILE)".into()))
}

/// The infinite-width MLP of the flags.
fn spec(net: &NetArgs) -> Result<KernelSpec, ExpError> {
    Ok(KernelSpec {
        depth: net.depth,
        sigma_w: net.sigma_w,
        sigma_b: net.sigma_b,
        activation: activation(net)?,
        surrogate: surrogate(net),
        kappa: net.kappa,
        method: Method::default(),
    })
}

/// `--net FILE`: a [`NetSpec`] in TOML, validated.
fn load_net(path: &Path) -> Result<NetSpec, ExpError> {
    let bad = |reason: String| ExpError::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let spec: NetSpec = toml::from_str(&text).map_err(|e| bad(one_line(&e)))?;
    spec.validate().map_err(|e| bad(e.to_string()))?;
    Ok(spec)
}

/// The input width of a `--net` file (the length of a CSV row of inputs), `None` for the flags.
fn file_input_dim(net: &NetArgs) -> Result<Option<usize>, ExpError> {
    net.net
        .as_deref()
        .map(|p| Ok(load_net(p)?.input_dim()))
        .transpose()
}

/// The network of an analytic subcommand on `input_dim` inputs: `--net`, or the MLP of the
/// flags (as a [`NetSpec`]; its widths do not enter the kernels).
fn infinite(net: &NetArgs, input_dim: usize) -> Result<NetSpec, ExpError> {
    match &net.net {
        Some(path) => load_net(path),
        None => Ok(spec(net)?.net_spec(input_dim, 1)?),
    }
}

/// The analytic kernels of `spec` with the flags' surrogate.
fn kernels<'a>(spec: &'a NetSpec, net: &NetArgs) -> Kernels<'a> {
    Kernels::Spec {
        spec,
        surrogate: surrogate(net),
        method: Method::default(),
    }
}

/// The `nets` finite networks of a subcommand on `input_dim` inputs: `--net`, or the MLP of the
/// flags with hidden width `width`.
fn finite(
    net: &NetArgs,
    input_dim: usize,
    width: Option<usize>,
    nets: usize,
) -> Result<Finite, ExpError> {
    if nets == 0 {
        return Err(sgntk_model::ModelError::EmptyEnsemble.into());
    }
    match &net.net {
        Some(path) => {
            let spec = load_net(path)?;
            Ok(match MlpConfig::try_from(&spec) {
                Ok(config) => Finite::Batched(config),
                Err(_) => Finite::Flat(spec),
            })
        }
        None => {
            let width = width.ok_or_else(|| {
                ExpError::Usage("--width N (the hidden width) is required (or --net FILE)".into())
            })?;
            Ok(Finite::Batched(mlp_config(net, input_dim, width)?))
        }
    }
}

/// The kernel of `--kind` (and `--g1/--g2`) with the flags' surrogate; warns when a given
/// `--surrogate` goes unused.
fn kernel_kind(kind: &KindArgs, net: &NetArgs) -> Result<KernelKind, ExpError> {
    let what = format!("--kind {}", kind.kind.map(kind_name).unwrap_or_default());
    warn_unused_surrogate(net, kind.uses_surrogate(), &what);
    let pair = kind.pair(surrogate(net)).map_err(ExpError::Usage)?;
    Ok(KernelKind::of_pair(pair))
}

/// The name of `--kind`'s value, as typed.
fn kind_name(kind: Kind) -> String {
    use clap::ValueEnum;
    kind.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn mlp_config(net: &NetArgs, input_dim: usize, width: usize) -> Result<MlpConfig, ExpError> {
    if net.depth < 2 {
        return Err(ExpError::Usage(format!(
            "--depth must be ≥ 2 for a network with a hidden layer, got {}",
            net.depth
        )));
    }
    // Before building the widths: P, counted with overflow checks, must fit into memory.
    sgntk_model::mlp::check_mlp_size(input_dim, width, net.depth, 1, 1)
        .map_err(sgntk_model::ModelError::from)?;
    let mut widths = vec![input_dim];
    widths.extend(std::iter::repeat_n(width, net.depth - 1));
    widths.push(1);
    let config = MlpConfig {
        sigma_w: net.sigma_w,
        sigma_b: net.sigma_b,
        kappa: net.kappa,
        ..MlpConfig::new(widths, activation(net)?)
    };
    config.validate()?;
    Ok(config)
}

/// Reads a file of points (CSV or `.npy`) with `dim` columns (when given).
fn read_points(path: &Path, dim: Option<usize>) -> Result<DMatrix<f64>, ExpError> {
    let m = read_matrix(path)?;
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

/// Before any work: `--out` is something a CSV can be written to (`-`, a file name, a device or
/// FIFO; not a directory). Creates nothing.
fn check_out(out: Option<&Path>) -> Result<(), ExpError> {
    if let Some(p) = out {
        crate::io::output_target(p)?;
    }
    Ok(())
}

/// Writes `m` to `out` (`.npy` or CSV, by its extension; `-`: stdout; devices and FIFOs directly;
/// files atomically), or CSV to stdout.
fn emit(m: &DMatrix<f64>, header: Option<&[&str]>, out: Option<&Path>) -> Result<(), ExpError> {
    match out {
        Some(p) => Ok(write_matrix(p, m, header)?),
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
    if a.kind.kind == Some(Kind::Nw) {
        return Err(ExpError::Usage(
            "--kind nw is a classifier, not a kernel: `sgntk predict --kind nw --activation sign …` classifies with it; its kernel is --kind ntk".into(),
        ));
    }
    check_out(a.out.as_deref())?;
    let x = read_points(&a.x, None)?;
    let y = match &a.y {
        Some(p) => read_points(p, Some(x.ncols()))?,
        None => x.clone(),
    };
    let k = if a.empirical {
        if a.width.is_none() && a.net.net.is_none() && a.load.is_none() {
            return Err(ExpError::Usage(
                "--empirical needs --width N (the hidden width) or --net FILE".into(),
            ));
        }
        let k = empirical_mean_kernel(a, &x, &y)?;
        check_finite_output(&k, "the empirical kernel", crate::compute::F32_HINT)?;
        k
    } else {
        if a.width.is_some() {
            return Err(ExpError::Usage(
                "--width only applies with --empirical (the analytic kernel is the infinite-width limit)"
                    .into(),
            ));
        }
        let spec = infinite(&a.net, x.ncols())?;
        kernel_matrix(
            kernels(&spec, &a.net),
            kernel_kind(&a.kind, &a.net)?,
            &x,
            &y,
        )?
    };
    emit(&k, None, a.out.as_deref())
}

fn empirical_mean_kernel(
    a: &KernelArgs,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> Result<DMatrix<f64>, ExpError> {
    let device = a.backend.device()?;
    let pair = kernel_kind(&a.kind, &a.net)?.derivatives(surrogate(&a.net));
    let check_kernels = |nets: usize| {
        let entries = (x.nrows() as u64).saturating_mul(y.nrows() as u64);
        sgntk_model::check_memory(
            "the empirical kernels",
            &[
                ("networks", nets as u64),
                ("entries", entries),
                ("bytes", 8),
            ],
        )
        .map_err(sgntk_model::ModelError::from)
    };
    let kernels = if let Some(path) = &a.load {
        let saved = load_networks(path, &a.net, &device)?;
        check_scalar_output(saved.spec.outputs())?;
        check_kernels(saved.networks.len())?;
        match &saved.networks {
            Networks::Batched(ens) => batched_kernels(ens, x, y, pair)?,
            Networks::Flat(nets) => nets
                .iter()
                .map(|net| flat_kernel(net, x, y, pair))
                .collect::<Result<_, _>>()?,
        }
    } else {
        let finite = finite(&a.net, x.ncols(), a.width, a.nets)?;
        check_scalar_output(finite.outputs())?;
        match finite {
            Finite::Batched(config) => {
                let ens = Ensemble::init(&config, a.nets, a.seed, &device)?;
                batched_kernels(&ens, x, y, pair)?
            }
            Finite::Flat(spec) => {
                check_kernels(a.nets)?;
                let pb = crate::progress::bar(a.nets as u64, "networks");
                let mut kernels = Vec::new();
                for k in 0..a.nets {
                    let net = spec.init(a.seed, k, &device)?;
                    kernels.push(flat_kernel(&net, x, y, pair)?);
                    pb.inc(1);
                }
                pb.finish_and_clear();
                kernels
            }
        }
    };
    Ok(ensemble_mean(&kernels))
}

/// The empirical kernel of every member of `ens` (`pair`: `None` is the NNGP f(x) f(y)ᵀ).
fn batched_kernels(
    ens: &Ensemble,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    pair: Option<sgntk_model::DerivativePair>,
) -> Result<Vec<DMatrix<f64>>, ExpError> {
    Ok(match pair {
        None => {
            let fx = ens.predict(x)?;
            let fy = ens.predict(y)?;
            fx.iter().zip(&fy).map(|(f, g)| f * g.transpose()).collect()
        }
        Some(pair) => empirical_kernel(ens, x, y, pair)?,
    })
}

/// The empirical kernel of one network of any NetSpec (per-sample Jacobians).
fn flat_kernel(
    net: &sgntk_model::FlatNet<NetSpec>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    pair: Option<sgntk_model::DerivativePair>,
) -> Result<DMatrix<f64>, ExpError> {
    Ok(match pair {
        None => predict_flat(net, x)? * predict_flat(net, y)?.transpose(),
        Some(pair) => jacobian_kernel(net, x, y, pair)?,
    })
}

/// Networks saved by `sgntk train --save`; with `--net FILE` they must be of that description.
fn load_networks(
    path: &Path,
    net: &NetArgs,
    device: &sgntk_model::burn::tensor::Device,
) -> Result<Saved, ExpError> {
    let saved = crate::networks::load(path, device)?;
    if let Some(file) = &net.net {
        let expected = load_net(file)?;
        if expected != saved.spec {
            return Err(IoError::Format {
                path: path.display().to_string(),
                reason: format!(
                    "its networks are of another description than {} (the file's: {})",
                    file.display(),
                    serde_json::to_string(&saved.spec).unwrap_or_default()
                ),
            }
            .into());
        }
    }
    Ok(saved)
}

/// The outputs of every network on `x`: a `points × (nets · outputs)` matrix, network k's output
/// j in column k · outputs + j; and the number of outputs per network.
fn outputs_table(networks: &Networks, x: &DMatrix<f64>) -> Result<(DMatrix<f64>, usize), ExpError> {
    Ok(interleave(&networks.predict(x)?, x.nrows()))
}

/// Networks' outputs (each points × n_L) as one table, network by network (column k·n_L + j is
/// output j of network k), and n_L.
fn interleave(outputs: &[DMatrix<f64>], points: usize) -> (DMatrix<f64>, usize) {
    let outs = outputs.first().map_or(1, |o| o.ncols()).max(1);
    let table = DMatrix::from_fn(points, outputs.len() * outs, |i, c| {
        outputs[c / outs][(i, c % outs)]
    });
    (table, outs)
}

/// The column names of an outputs table (`points × (nets · outs)`) after checking that every
/// output is finite (an f32 overflow is never written as a success).
fn checked_output_names(table: &DMatrix<f64>, outs: usize) -> Result<Vec<String>, ExpError> {
    let what = "a network's output on the test points";
    check_finite_output(table, what, crate::compute::F32_HINT)?;
    Ok(net_names(table.ncols() / outs.max(1), outs))
}

/// Column names of an outputs table: `net_0`, `net_1`, … for one output per network;
/// `net_0_out_0`, `net_0_out_1`, … for several.
fn net_names(nets: usize, outs: usize) -> Vec<String> {
    (0..nets)
        .flat_map(|k| {
            (0..outs).map(move |j| match outs {
                1 => format!("net_{k}"),
                _ => format!("net_{k}_out_{j}"),
            })
        })
        .collect()
}

/// `sgntk predict`: GP mean and standard deviation after training (docs/MATH.md §6).
pub fn predict(a: &PredictArgs) -> Result<(), ExpError> {
    check_out(a.out.as_deref())?;
    if a.load.is_some() && a.kind.kind.is_some() {
        return Err(ExpError::Usage(
            "--kind does not apply with --load (predict --load writes the saved networks' outputs)"
                .into(),
        ));
    }
    let (Some(kind), Some(train)) = (a.kind.kind, &a.train) else {
        return predict_loaded(a);
    };
    let (xt, yt) = read_train_targets(train, file_input_dim(&a.net)?, a.targets)?;
    let x = read_points(&a.test, Some(xt.ncols()))?;
    let untimed = matches!(kind, Kind::Nngp | Kind::Nw);
    if untimed && (a.time.is_some() || a.lr.is_some() || a.discrete) {
        return Err(ExpError::Usage(format!(
            "--time, --lr and --discrete do not apply to --kind {} (it is not a trained network's GP: it has no time)",
            kind_name(kind)
        )));
    }
    if kind == Kind::Nw {
        if a.targets != 1 {
            return Err(ExpError::Usage(
                "--kind nw classifies by the sign of one target (use --targets 1)".into(),
            ));
        }
        return nadaraya_watson_classes(a, &xt, &yt, &x);
    }
    let lr = a.lr.unwrap_or(DEFAULT_LR);
    if !(lr.is_finite() && lr > 0.0) {
        return Err(ExpError::Usage(format!("--lr must be positive, got {lr}")));
    }
    let time = match a.time.unwrap_or(Time::Infinite) {
        Time::Infinite if a.discrete => {
            return Err(ExpError::Usage(
                "--discrete needs a finite --time T (steps)".into(),
            ))
        }
        Time::Infinite => TrainTime::Infinite,
        Time::Steps(t) if a.discrete && t.fract() != 0.0 => {
            return Err(ExpError::Usage(format!(
                "--discrete counts whole steps, got --time {t}"
            )))
        }
        Time::Steps(t) => TrainTime::Finite {
            t,
            lr,
            discrete: a.discrete,
        },
    };
    let spec = infinite(&a.net, xt.ncols())?;
    let gp = gp_predict(
        kernels(&spec, &a.net),
        kernel_kind(&a.kind, &a.net)?,
        &xt,
        &yt,
        &x,
        time,
    )?;
    let std = gp.std();
    let n = gp.mean.ncols();
    let out = DMatrix::from_fn(x.nrows(), n + 1, |i, j| {
        if j < n {
            gp.mean[(i, j)]
        } else {
            std[i]
        }
    });
    check_finite_output(
        &out,
        "the GP prediction",
        "the kernel system is numerically unusable",
    )?;
    // `mean,std` for one target; `mean_0,…,mean_{N−1},std` for N
    let mut names: Vec<String> = match n {
        1 => vec!["mean".into()],
        _ => (0..n).map(|j| format!("mean_{j}")).collect(),
    };
    names.push("std".into());
    let header: Vec<&str> = names.iter().map(String::as_str).collect();
    emit(&out, Some(&header), a.out.as_deref())
}

/// `sgntk predict --kind nw`: the classes sign(Θ(x, X) Y) of the NTK's Nadaraya–Watson form
/// (Thm. 2.3; for the singular sign NTK, a test point equal to a training point takes its label).
fn nadaraya_watson_classes(
    a: &PredictArgs,
    xt: &DMatrix<f64>,
    yt: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> Result<(), ExpError> {
    let spec = infinite(&a.net, xt.ncols())?;
    let k_tx = kernel_matrix(kernels(&spec, &a.net), kernel_kind(&a.kind, &a.net)?, x, xt)?;
    let classes = nadaraya_watson(&k_tx, yt)?;
    emit(&classes, Some(&["class"]), a.out.as_deref())
}

/// `sgntk predict --load FILE`: the saved networks' outputs on the test points, one column per
/// network.
fn predict_loaded(a: &PredictArgs) -> Result<(), ExpError> {
    let path = a.load.as_ref().ok_or_else(|| {
        ExpError::Usage("--kind and --train are required (or --load FILE)".into())
    })?;
    let device = a.backend.device()?;
    let saved = load_networks(path, &a.net, &device)?;
    let x = read_points(&a.test, None)?;
    if x.ncols() != saved.spec.input_dim() {
        return Err(IoError::Columns {
            path: a.test.display().to_string(),
            expected: format!(
                "{} (the input dimension of the networks in {})",
                saved.spec.input_dim(),
                path.display()
            ),
            got: x.ncols(),
        }
        .into());
    }
    let (table, outs) = outputs_table(&saved.networks, &x)?;
    let names = checked_output_names(&table, outs)?;
    let header: Vec<&str> = names.iter().map(String::as_str).collect();
    emit(&table, Some(&header), a.out.as_deref())
}

/// `sgntk train`: trains an ensemble (fresh, or the networks of `--load` for more steps), writes
/// `outputs.csv` (one column per network, one row per test point) and `loss.csv` (`step,loss`,
/// the mean loss over networks) — or one `.npz` with both tables — and with `--save` the trained
/// networks ([`crate::networks`]).
pub fn train(a: &TrainArgs) -> Result<(), ExpError> {
    // Before any work: the output files can be written (an output directory is created only
    // once the inputs are valid, below).
    let npz = DataFormat::of(&a.out) == DataFormat::Npz;
    if npz {
        crate::io::check_out_file(&a.out)?;
    }
    if let Some(save) = &a.save {
        crate::io::check_out_file(save)?;
    }
    let (xt, yt) = read_train_targets(&a.train, file_input_dim(&a.net)?, a.targets)?;
    let x = read_points(&a.test, Some(xt.ncols()))?;
    let device = a.backend.device()?;
    // The networks to train: loaded, or drawn from --seed (their description and history).
    let (start, loaded) = match &a.load {
        Some(path) => {
            let saved = load_networks(path, &a.net, &device)?;
            if saved.spec.input_dim() != xt.ncols() {
                return Err(IoError::Columns {
                    path: a.train.display().to_string(),
                    expected: format!(
                        "{} (inputs of the networks in {}) + 1 (target)",
                        saved.spec.input_dim(),
                        path.display()
                    ),
                    got: xt.ncols() + 1,
                }
                .into());
            }
            (
                Start::Loaded(saved.spec, saved.networks, saved.state.map(Box::new)),
                Some(saved.training),
            )
        }
        None => {
            let nets = a.nets.unwrap_or(0);
            let mut networks = finite(&a.net, xt.ncols(), a.width, nets)?;
            if let (Finite::Batched(mlp), None) = (&mut networks, &a.net.net) {
                // the MLP of the flags: one output per target
                *mlp.widths.last_mut().expect("validated widths") = a.targets;
                mlp.validate()?;
            }
            (Start::Fresh(networks, nets), None)
        }
    };
    check_targets(
        match &start {
            Start::Fresh(finite, _) => finite.outputs(),
            Start::Loaded(spec, _, _) => spec.outputs(),
        },
        a.targets,
    )?;
    let (rule, lr, seed, done) = match &loaded {
        Some(t) => {
            let from = "a run continued with --load (its rule comes from the file)";
            warn_unused_surrogate(&a.net, false, from);
            (t.rule, t.lr, t.seed, t.steps)
        }
        None => {
            let mode = a
                .mode
                .ok_or_else(|| ExpError::Usage("--mode is required".into()))?;
            warn_unused_surrogate(&a.net, mode == Mode::Sgl, "--mode gd (gradient descent)");
            (mode.rule(surrogate(&a.net)), a.lr, a.seed, 0)
        }
    };
    // Fail before initializing: the learning rate and the loss curve's size.
    let config = TrainConfig {
        rule,
        lr,
        steps: a.steps,
        engine: a.engine,
    };
    config.validate()?;
    // The inputs are valid: now the output directory is created (or found) and checked writable,
    // before any training; a run that fails from here on removes it again if it stays empty.
    let out_dir = match npz {
        true => None,
        false => Some(crate::io::OutDir::create(&a.out)?),
    };
    let data = TrainSet { x: xt, y: yt };
    let data_sha256 = crate::networks::data_sha256(&data.x, &data.y);
    let same_data = loaded.as_ref().is_none_or(|t| t.data_sha256 == data_sha256);
    if !same_data {
        eprintln!(
            "note: {} was trained on other data; continuing on {}",
            a.load.as_deref().unwrap_or(Path::new("")).display(),
            a.train.display()
        );
    }
    let keep = a.save.is_some();
    let (spec, run) = match start {
        Start::Fresh(Finite::Batched(mlp), nets) => {
            let ens = Ensemble::init(&mlp, nets, seed, &device)?;
            (
                NetSpec::mlp(&mlp),
                train_batched(ens, None, &config, &data, &x)?,
            )
        }
        Start::Loaded(spec, Networks::Batched(ens), state) => {
            // The carried state continues a lowrank run on the same data; otherwise the run
            // starts from the networks it computes (the file's parameters).
            let engine = config.engine.resolve(&ens);
            let state =
                state.filter(|_| {
                    let usable = engine == Engine::Lowrank && same_data;
                    if !usable {
                        eprintln!(
                        "note: continuing from the saved networks without the lowrank engine's \
                         carried state ({}): the run equals an uninterrupted one only to f32 \
                         rounding",
                        if same_data { "another engine" } else { "other data" }
                    );
                    }
                    usable
                });
            (
                spec,
                train_batched(ens, state.map(|s| *s), &config, &data, &x)?,
            )
        }
        Start::Fresh(Finite::Flat(spec), nets) => {
            check_flat_engine(a.engine)?;
            let start = FlatStart::Fresh {
                spec: &spec,
                seed,
                count: nets,
                device: &device,
            };
            let run = train_each(start, keep, &config, &data, &x)?;
            (spec, run)
        }
        Start::Loaded(spec, Networks::Flat(nets), _) => {
            check_flat_engine(a.engine)?;
            let run = train_each(FlatStart::Loaded(nets), keep, &config, &data, &x)?;
            (spec, run)
        }
    };
    let Run {
        networks,
        engine,
        loss: mean_loss,
        table,
        state,
    } = run;
    let outs = data.y.ncols();
    let names = checked_output_names(&table, outs)?;
    let header: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut loss = Table::new(&["step", "loss"]);
    for (t, l) in mean_loss.iter().enumerate() {
        loss.push(&[Cell::Int(done + t), Cell::Num(*l)]);
    }
    // Every output or none (each written in full to a temporary file first).
    let mut files = if npz {
        let steps = DMatrix::from_fn(mean_loss.len(), 2, |t, j| {
            if j == 0 {
                (done + t) as f64
            } else {
                mean_loss[t]
            }
        });
        let archive = crate::npy::to_npz(&[
            ("outputs", crate::io::to_npy(&table)),
            ("loss", crate::io::to_npy(&steps)),
        ])
        .map_err(|e| ExpError::output(&a.out, e))?;
        vec![(a.out.clone(), archive)]
    } else {
        vec![
            (
                a.out.join("outputs.csv"),
                to_csv(&table, Some(&header)).into_bytes(),
            ),
            (a.out.join("loss.csv"), loss.to_csv().into_bytes()),
        ]
    };
    if let (Some(path), Some(networks)) = (&a.save, &networks) {
        let training = Training {
            rule,
            lr,
            steps: done + a.steps,
            seed,
            engine,
            backend: a.backend.to_string(),
            data_sha256,
        };
        let bytes = crate::networks::to_bytes(&spec, &training, networks, state.as_ref())
            .map_err(|e| ExpError::output(path, e))?;
        files.push((path.clone(), bytes));
    }
    write_all_atomic(&files)?;
    if let Some(dir) = out_dir {
        dir.keep();
    }
    eprintln!(
        "trained {} networks: loss {:.4e} -> {:.4e}; wrote {}{}",
        table.ncols() / outs.max(1),
        mean_loss[0],
        mean_loss.last().copied().unwrap_or(f64::NAN),
        a.out.display(),
        a.save
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// Where `sgntk train` starts: fresh networks (how many), or saved ones (with the lowrank
/// engine's carried state, if the file has one).
enum Start {
    Fresh(Finite, usize),
    Loaded(NetSpec, Networks, Option<Box<EngineState>>),
}

/// `--engine` for networks that only train with autodiff.
fn check_flat_engine(engine: Engine) -> Result<(), ExpError> {
    match engine {
        Engine::Auto | Engine::Autodiff => Ok(()),
        other => Err(ExpError::Usage(format!(
            "--engine {other:?} trains MLPs (and residual MLPs of [act, dense] blocks) only; \
             this network trains with autodiff (--engine auto or autodiff)"
        ))),
    }
}

/// What a training run of `sgntk train` gives.
struct Run {
    /// The trained networks (for other than MLPs only when they are to be saved).
    networks: Option<Networks>,
    /// The engine that ran.
    engine: Engine,
    /// The mean loss over networks before each step and after the last.
    loss: Vec<f64>,
    /// The outputs on the test points, `points × nets`.
    table: DMatrix<f64>,
    /// The lowrank engine's carried state after the last step (saved with the networks).
    state: Option<EngineState>,
}

/// Trains an MLP ensemble on the batched engines (see [`Run`]), from the carried `state` of a
/// saved lowrank run if given.
fn train_batched(
    mut ens: Ensemble,
    mut state: Option<EngineState>,
    config: &TrainConfig,
    data: &TrainSet,
    x: &DMatrix<f64>,
) -> Result<Run, ExpError> {
    // The test points must fit the networks' f32 arithmetic too, before training.
    ens.check_inputs(x)?;
    let engine = config.engine.resolve(&ens);
    let pb = crate::progress::bar(config.steps as u64, "training steps");
    let mut progress = crate::progress::observer(&pb, || false);
    let report = train_continuing(&mut ens, data, config, Some(&mut progress), &mut state)?;
    pb.finish_and_clear();
    let networks = Networks::Batched(ens);
    Ok(Run {
        table: outputs_table(&networks, x)?.0,
        networks: Some(networks),
        engine,
        loss: report.loss,
        state,
    })
}

/// The networks of a NetSpec to train: networks `0..count` of `spec` drawn from `seed`, or
/// given networks (loaded from a file).
enum FlatStart<'a> {
    Fresh {
        spec: &'a NetSpec,
        seed: u64,
        count: usize,
        device: &'a sgntk_model::burn::tensor::Device,
    },
    Loaded(Vec<sgntk_model::FlatNet<NetSpec>>),
}

/// Trains networks of any NetSpec as batched ensembles (autodiff, all members of a batch in one
/// computation: [`sgntk_model::train_flat_ensemble`], [`sgntk_model::train_flat_networks`]); the
/// trained networks are kept when `keep` (see [`Run`]).
fn train_each(
    start: FlatStart,
    keep: bool,
    config: &TrainConfig,
    data: &TrainSet,
    x: &DMatrix<f64>,
) -> Result<Run, ExpError> {
    let (spec, count) = match &start {
        FlatStart::Fresh { spec, count, .. } => ((*spec).clone(), *count),
        FlatStart::Loaded(nets) => match nets.first() {
            Some(net) => (net.config().clone(), nets.len()),
            None => return Err(sgntk_model::ModelError::EmptyEnsemble.into()),
        },
    };
    sgntk_model::check_memory(
        "the networks' outputs",
        &[
            ("networks", count as u64),
            ("points", x.nrows() as u64),
            ("outputs", data.y.ncols() as u64),
            ("bytes", 8),
        ],
    )
    .map_err(sgntk_model::ModelError::from)?;
    // The test points must fit the networks' precision too, before any training.
    match &start {
        FlatStart::Fresh { seed, device, .. } => {
            let net = spec.init(*seed, 0, device)?;
            sgntk_model::flat::check_data(&net, x, "test points")?;
        }
        FlatStart::Loaded(nets) => sgntk_model::flat::check_data(&nets[0], x, "test points")?,
    }
    let batches = sgntk_model::member_batches(&spec, data.x.nrows(), 0..count).len();
    let steps = (config.steps as u64).saturating_mul(batches as u64);
    let pb = crate::progress::bar(steps, "training steps");
    let mut progress = crate::progress::observer(&pb, || false);
    let (nets, report) = match start {
        FlatStart::Fresh {
            spec,
            seed,
            count,
            device,
        } => train_flat_ensemble(
            spec,
            seed,
            0..count,
            data,
            config,
            device,
            Some(&mut progress),
        )?,
        FlatStart::Loaded(nets) => train_flat_networks(nets, data, config, Some(&mut progress))?,
    };
    pb.finish_and_clear();
    let outputs = nets
        .iter()
        .map(|net| predict_flat(net, x))
        .collect::<Result<Vec<_>, _>>()?;
    let (table, _) = interleave(&outputs, x.nrows());
    Ok(Run {
        state: None,
        networks: keep.then_some(Networks::Flat(nets)),
        engine: Engine::Autodiff,
        loss: report.loss,
        table,
    })
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
        println!("paper: the paper's figures (1, 2, 3a, 3b, b1–b4); all: every figure");
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
    // Inputs valid: create (or find) the output directory; removed again if the run fails and
    // leaves it empty.
    let out_dir = crate::io::OutDir::create(&opts.out)?;
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
    out_dir.keep();
    Ok(())
}

fn bench(a: &BenchArgs) -> Result<(), ExpError> {
    if a.widths.contains(&0) || a.nets.contains(&0) || a.steps == 0 || a.kernel_reps == 0 {
        return Err(ExpError::Usage(
            "--widths, --nets, --steps and --kernel-reps must be positive".into(),
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
        analytic_only: a.analytic_only,
        kernel_points: a.kernel_points,
        kernel_reps: a.kernel_reps,
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
            "peak_fraction_1_thread",
            "peak_fraction_all_threads",
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
                opt(r.peak_fraction.map(|p| p.0)),
                opt(r.peak_fraction.map(|p| p.1)),
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
        Command::Stats(a) => stats(&a),
    }
}

/// `sgntk stats`: Fig. 3's statistics of a figure's CSV as JSON (see [`crate::stats`]).
fn stats(a: &StatsArgs) -> Result<(), ExpError> {
    if let Some(out) = &a.out {
        crate::io::check_out_file(out)?;
    }
    let groups = crate::stats::stats_of_file(&a.file)?;
    let report = serde_json::json!({ "file": a.file.display().to_string(), "groups": groups });
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| ExpError::Usage(e.to_string()))? + "\n";
    match &a.out {
        Some(out) => Ok(crate::io::write_atomic(out, text.as_bytes())?),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Parses a command line (without the program name) as `sgntk` would; a usage error is one line.
fn parse_command_line(args: &[String]) -> Result<Cli, ExpError> {
    let argv = std::iter::once("sgntk").chain(args.iter().map(String::as_str));
    <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid flags");
        ExpError::Usage(format!(
            "`sgntk {}`: {}",
            args.join(" "),
            first.strip_prefix("error: ").unwrap_or(first)
        ))
    })
}

/// A sweep file, with every grid point's command line (for a command sweep) checked by the CLI's
/// own parser before any work.
fn load_sweep(path: &Path) -> Result<SweepSpec, ExpError> {
    let spec = SweepSpec::load(path)?;
    if spec.command.is_some() {
        for p in spec.points(Path::new(".")) {
            parse_command_line(&spec.command_line(&p)?).map_err(|e| ExpError::Config {
                path: path.display().to_string(),
                reason: format!("grid point {}: {e}", p.name()),
            })?;
        }
    }
    Ok(spec)
}

fn run_sweep(a: &SweepArgs) -> Result<(), ExpError> {
    let spec = load_sweep(&a.file)?;
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
    let out_dir = crate::io::OutDir::create(&opts.out)?;
    let n = crate::sweep::run_sweep(&spec, &opts, &|args| run(parse_command_line(args)?))?;
    out_dir.keep();
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
            load_sweep(&s.file)?;
            ("sgntk-sweep".to_string(), s.out.clone(), s.to_args()?)
        }
    };
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
    let scripts = crate::slurm::scripts(&name, &command, &dir, &options)?;
    // Everything valid: now the output directory is created.
    crate::io::check_out_dir(&out)?;
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

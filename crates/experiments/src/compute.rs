//! The computations of `sgntk kernel`, `predict` and `train` on matrices in memory, for the Python
//! package (`crates/python`, numpy arrays in and out). They call the library functions the
//! command line (`commands.rs`) calls, in the same order with the same arguments, so a Python call
//! and the command with the same arguments give the same numbers, bit for bit (tested in
//! `crates/python/tests/test_cli_parity.py`).
//!
//! - analytic kernels: the fold of the network's layer maps (docs/MATH.md §4, §5);
//! - empirical kernels: the mean over finite networks of J₁ J₂ᵀ (docs/MATH.md §4);
//! - GP predictions after training time t (docs/MATH.md §6);
//! - training: GD or SGL on an ensemble (docs/MATH.md §3), with a progress bar and a check between
//!   runs of steps that can stop it ([`Monitor`]).

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    predict_flat, train_flat_ensemble, train_reporting, Activation, BackendKind, DerivativePair,
    Ensemble, MlpConfig, ModelError, NetSpec, Surrogate, TrainConfig, TrainSet,
};
use sgntk_ntk::empirical::{empirical_kernel, jacobian_kernel};
use sgntk_ntk::{gp_predict, kernel_matrix, GpPrediction, KernelKind, KernelSpec, Kernels};
use sgntk_ntk::{Method, TrainTime};

use crate::cli::args::Kind;
use crate::error::ExpError;
use crate::settings::one_line;

/// The MLP of the command line's flags (`--activation`, `--depth`, `--sigma-w`, `--sigma-b`,
/// `--kappa`, `--width`), or of `sgntk.Net.mlp` in Python.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpFlags {
    /// φ of every hidden layer.
    pub activation: Activation,
    /// Number of layers L (2 hidden layers = 3).
    pub depth: usize,
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
    /// Output scale κ.
    pub kappa: f64,
    /// Hidden width n of finite networks (the analytic kernels do not depend on it).
    pub width: Option<usize>,
}

/// The network a computation runs on: the MLP of the flags, or any [`NetSpec`] (`--net FILE`).
#[derive(Clone, Debug, PartialEq)]
pub enum Network {
    /// The MLP of the flags.
    Mlp(MlpFlags),
    /// A network description.
    Spec(NetSpec),
}

/// The finite networks of a computation.
pub enum Finite {
    /// An MLP (from the flags, or a description that is one, residual MLPs of dense blocks
    /// included: `MlpConfig::try_from`): the batched engines.
    Batched(MlpConfig),
    /// Any other network: [`NetSpec::init`] and autodiff training per network.
    Flat(NetSpec),
}

impl Finite {
    /// The networks' output width n_L.
    pub fn outputs(&self) -> usize {
        match self {
            Finite::Batched(mlp) => *mlp.widths.last().expect("validated widths"),
            Finite::Flat(spec) => spec.outputs(),
        }
    }
}

/// Empirical kernels are defined for one output: networks with n_L = `outputs` > 1 are an error
/// (not the sum of the outputs' kernels).
pub fn check_scalar_output(outputs: usize) -> Result<(), ExpError> {
    match outputs {
        1 => Ok(()),
        n => Err(sgntk_ntk::empirical::EmpiricalError::NotScalarOutput(n).into()),
    }
}

/// Training targets (`--targets N`) for networks with `outputs` outputs: one line naming both.
pub fn check_targets(outputs: usize, targets: usize) -> Result<(), ExpError> {
    if outputs == targets {
        return Ok(());
    }
    Err(ExpError::Usage(format!(
        "the network has {outputs} output(s) (the width of its last dense layer) but the training \
         data have {targets} target column(s) (--targets {targets}): they must be equal"
    )))
}

/// How a long computation reports: a progress bar on stderr (hidden when stderr is not a
/// terminal), and `stop`, asked between units of work (runs of training steps about every
/// [`sgntk_model::train::PROGRESS_INTERVAL`], networks of an empirical kernel): when it returns true the
/// computation ends with an "interrupted" error.
pub struct Monitor<'a> {
    /// Whether to draw a progress bar.
    pub progress: bool,
    /// Whether to stop now.
    pub stop: &'a mut dyn FnMut() -> bool,
}

impl Monitor<'_> {
    /// A progress bar over `total` units of `what`, or a hidden one.
    fn bar(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        if self.progress {
            crate::progress::bar(total, what)
        } else {
            indicatif::ProgressBar::hidden()
        }
    }
}

impl Network {
    /// A network description in TOML (the format of `--net FILE`), validated; `origin` names
    /// where the text comes from in errors (the file).
    pub fn from_toml(text: &str, origin: &str) -> Result<Network, ExpError> {
        let bad = |reason: String| ExpError::Config {
            path: origin.to_string(),
            reason,
        };
        let spec: NetSpec = toml::from_str(text).map_err(|e| bad(one_line(&e)))?;
        spec.validate().map_err(|e| bad(e.to_string()))?;
        Ok(Network::Spec(spec))
    }

    /// The MLP as an analytic kernel specification (its surrogate does not enter the network
    /// description: the kernels take it through [`Kernels`]).
    fn kernel_spec(mlp: &MlpFlags) -> KernelSpec {
        KernelSpec {
            depth: mlp.depth,
            sigma_w: mlp.sigma_w,
            sigma_b: mlp.sigma_b,
            activation: mlp.activation,
            surrogate: Surrogate::True,
            kappa: mlp.kappa,
            method: Method::default(),
        }
    }

    /// Checks what can be checked without data: the scales and depth of the MLP (and, with a
    /// width, that its finite networks fit into memory), or the description.
    pub fn validate(&self) -> Result<(), ExpError> {
        match self {
            Network::Mlp(mlp) => {
                Self::kernel_spec(mlp).validate().map_err(ExpError::from)?;
                if let Some(width) = mlp.width {
                    mlp_config(mlp, 1, width, 1)?;
                }
                Ok(())
            }
            Network::Spec(spec) => Ok(spec.validate()?),
        }
    }

    /// The network on `input_dim` inputs as a [`NetSpec`] for the analytic kernels (the MLP's
    /// widths do not enter them).
    pub fn infinite(&self, input_dim: usize) -> Result<NetSpec, ExpError> {
        match self {
            Network::Spec(spec) => Ok(spec.clone()),
            Network::Mlp(mlp) => Ok(Self::kernel_spec(mlp).net_spec(input_dim, 1)?),
        }
    }

    /// The `nets` finite networks on `input_dim` inputs; the MLP of the flags gets `outputs`
    /// outputs (one per target), a description keeps its own.
    pub fn finite(
        &self,
        input_dim: usize,
        outputs: usize,
        nets: usize,
    ) -> Result<Finite, ExpError> {
        if nets == 0 {
            return Err(ModelError::EmptyEnsemble.into());
        }
        match self {
            Network::Spec(spec) => Ok(match MlpConfig::try_from(spec) {
                Ok(config) => Finite::Batched(config),
                Err(_) => Finite::Flat(spec.clone()),
            }),
            Network::Mlp(mlp) => {
                let width = mlp.width.ok_or_else(|| {
                    ExpError::Usage(
                        "--width N (the hidden width) is required (or --net FILE)".into(),
                    )
                })?;
                Ok(Finite::Batched(mlp_config(mlp, input_dim, width, outputs)?))
            }
        }
    }
}

/// The finite MLP of the flags on `input_dim` inputs with hidden width `width` and `outputs`
/// outputs.
fn mlp_config(
    mlp: &MlpFlags,
    input_dim: usize,
    width: usize,
    outputs: usize,
) -> Result<MlpConfig, ExpError> {
    if mlp.depth < 2 {
        return Err(ExpError::Usage(format!(
            "--depth must be ≥ 2 for a network with a hidden layer, got {}",
            mlp.depth
        )));
    }
    // Before building the widths: P, counted with overflow checks, must fit into memory.
    let params = sgntk_model::limits::mlp_parameters(input_dim, width, mlp.depth, outputs);
    sgntk_model::check_memory(
        "one network",
        &[
            ("parameters", params.unwrap_or(u64::MAX)),
            ("bytes each", sgntk_model::mlp::BYTES_PER_PARAMETER),
        ],
    )
    .map_err(ModelError::from)?;
    let mut widths = vec![input_dim];
    widths.extend(std::iter::repeat_n(width, mlp.depth - 1));
    widths.push(outputs);
    let config = MlpConfig {
        sigma_w: mlp.sigma_w,
        sigma_b: mlp.sigma_b,
        kappa: mlp.kappa,
        ..MlpConfig::new(widths, mlp.activation)
    };
    config.validate()?;
    Ok(config)
}

/// Fails unless every entry of `m`, a result, is finite: NaN or ±∞ (e.g. from an f32 overflow)
/// is never written or returned as a success (the command line's check too).
pub(crate) fn check_finite_result(
    m: &DMatrix<f64>,
    what: &str,
    hint: &str,
) -> Result<(), ExpError> {
    for (j, col) in m.column_iter().enumerate() {
        if let Some((i, v)) = col.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ExpError::Usage(format!(
                "{what} is {v} at row {i}, column {j}; nothing written or returned ({hint})"
            )));
        }
    }
    Ok(())
}

/// Result checks: the hint for results of the f32 networks.
pub(crate) const F32_HINT: &str = "the f32 networks overflowed; rescale the inputs";

/// The derivative pair of `kind` with surrogate σ̃ (`None`: the NNGP), as the command line's
/// `--kind` gives it; `generalized` (it needs its pair) and `nw` (a classifier) are refused.
fn pair_of(kind: Kind, surrogate: Surrogate) -> Result<Option<DerivativePair>, ExpError> {
    if matches!(kind, Kind::Generalized | Kind::Nw) {
        return Err(ExpError::Usage(format!(
            "kind {kind:?} is not available here: use nngp, ntk or sgntk"
        )));
    }
    let args = crate::cli::args::KindArgs {
        kind: Some(kind),
        g1: None,
        g2: None,
    };
    args.pair(surrogate).map_err(ExpError::Usage)
}

/// The kernel of `kind` with surrogate σ̃: NNGP Σ, NTK Θ or SG-NTK I.
pub fn kernel_kind(kind: Kind, surrogate: Surrogate) -> Result<KernelKind, ExpError> {
    Ok(KernelKind::of_pair(pair_of(kind, surrogate)?))
}

/// The analytic kernels of `spec` with surrogate σ̃.
fn kernels(spec: &NetSpec, surrogate: Surrogate) -> Kernels<'_> {
    Kernels::Spec {
        spec,
        surrogate,
        method: Method::default(),
    }
}

/// The analytic (infinite-width) kernel K(X, Y) of `kind` (`sgntk kernel`).
pub fn analytic_kernel(
    net: &Network,
    kind: Kind,
    surrogate: Surrogate,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> Result<DMatrix<f64>, ExpError> {
    let spec = net.infinite(x.ncols())?;
    Ok(kernel_matrix(
        kernels(&spec, surrogate),
        kernel_kind(kind, surrogate)?,
        x,
        y,
    )?)
}

/// The empirical kernel K(X, Y) of `kind` of each of `nets` finite networks drawn with `seed`
/// (`sgntk kernel --empirical` prints their mean): J₁ J₂ᵀ with the kind's derivative pair, or
/// f(X) f(Y)ᵀ for the NNGP.
#[allow(clippy::too_many_arguments)]
pub fn empirical_kernels(
    net: &Network,
    kind: Kind,
    surrogate: Surrogate,
    nets: usize,
    seed: u64,
    backend: BackendKind,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    monitor: &mut Monitor,
) -> Result<Vec<DMatrix<f64>>, ExpError> {
    let finite = net.finite(x.ncols(), 1, nets)?;
    check_scalar_output(finite.outputs())?;
    let device = backend.device()?;
    let pair = pair_of(kind, surrogate)?;
    let kernels = match finite {
        Finite::Batched(config) => {
            let ens = Ensemble::init(&config, nets, seed, &device)?;
            match pair {
                None => {
                    let fx = ens.predict(x)?;
                    let fy = ens.predict(y)?;
                    fx.iter().zip(&fy).map(|(f, g)| f * g.transpose()).collect()
                }
                Some(pair) => empirical_kernel(&ens, x, y, pair)?,
            }
        }
        Finite::Flat(spec) => {
            let entries = (x.nrows() as u64).saturating_mul(y.nrows() as u64);
            sgntk_model::check_memory(
                "the empirical kernels",
                &[
                    ("networks", nets as u64),
                    ("entries", entries),
                    ("bytes", 8),
                ],
            )
            .map_err(ModelError::from)?;
            let pb = monitor.bar(nets as u64, "networks");
            let mut kernels = Vec::new();
            for k in 0..nets {
                if (monitor.stop)() {
                    return Err(ExpError::Interrupted);
                }
                let net = spec.init(seed, k, &device)?;
                kernels.push(match pair {
                    None => predict_flat(&net, x)? * predict_flat(&net, y)?.transpose(),
                    Some(pair) => jacobian_kernel(&net, x, y, pair)?,
                });
                pb.inc(1);
            }
            pb.finish_and_clear();
            kernels
        }
    };
    for k in &kernels {
        check_finite_result(k, "the empirical kernel", F32_HINT)?;
    }
    Ok(kernels)
}

/// The training time of a GP prediction: `time` = ∞, or `time` steps (gradient flow, or with
/// `discrete` that many steps of (Id − η K/d)) of learning rate `lr`.
pub fn train_time(time: f64, lr: f64, discrete: bool) -> Result<TrainTime, ExpError> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(ExpError::Usage(format!("--lr must be positive, got {lr}")));
    }
    if time == f64::INFINITY {
        if discrete {
            return Err(ExpError::Usage(
                "--discrete needs a finite --time T (steps)".into(),
            ));
        }
        return Ok(TrainTime::Infinite);
    }
    if !(time.is_finite() && time >= 0.0) {
        return Err(ExpError::Usage(format!(
            "--time {time} is not `inf` or a non-negative number of steps"
        )));
    }
    if discrete && time.fract() != 0.0 {
        return Err(ExpError::Usage(format!(
            "--discrete counts whole steps, got --time {time}"
        )));
    }
    Ok(TrainTime::Finite {
        t: time,
        lr,
        discrete,
    })
}

/// The infinite-width GP of the network trained on (`x_train`, `y_train`) by the kernel of `kind`
/// for `time`, at `x` (`sgntk predict`). The NNGP regression is not trained: it takes only
/// [`TrainTime::Infinite`].
pub fn gp_prediction(
    net: &Network,
    kind: Kind,
    surrogate: Surrogate,
    time: TrainTime,
    x_train: &DMatrix<f64>,
    y_train: &DMatrix<f64>,
    x: &DMatrix<f64>,
) -> Result<GpPrediction, ExpError> {
    if kind == Kind::Nngp && time != TrainTime::Infinite {
        return Err(ExpError::Usage(
            "a training time does not apply to the NNGP regression (--kind nngp: it is not trained, so it has no time)"
                .into(),
        ));
    }
    sgntk_model::check_finite(y_train, "training targets")?;
    let spec = net.infinite(x_train.ncols())?;
    let gp = gp_predict(
        kernels(&spec, surrogate),
        kernel_kind(kind, surrogate)?,
        x_train,
        y_train,
        x,
        time,
    )?;
    let hint = "the kernel system is numerically unusable";
    check_finite_result(&gp.mean, "the GP mean", hint)?;
    let std = gp.std();
    let std = DMatrix::from_column_slice(std.len(), 1, std.as_slice());
    check_finite_result(&std, "the GP standard deviation", hint)?;
    Ok(gp)
}

/// What [`train_networks`] returns.
pub struct Trained {
    /// Each network's outputs on the test points (points × outputs).
    pub outputs: Vec<DMatrix<f64>>,
    /// The mean training loss over networks before each step and after the last (steps + 1).
    pub loss: Vec<f64>,
}

/// Trains `nets` networks drawn with `seed` on `data` as `config` says and evaluates them on
/// `x` (`sgntk train`): MLPs (residual MLPs of dense blocks included: MLPs with skip
/// connections) as one batched ensemble on the MLP engines, other networks as batched ensembles
/// by autodiff.
#[allow(clippy::too_many_arguments)]
pub fn train_networks(
    net: &Network,
    config: &TrainConfig,
    nets: usize,
    seed: u64,
    backend: BackendKind,
    data: &TrainSet,
    x: &DMatrix<f64>,
    monitor: &mut Monitor,
) -> Result<Trained, ExpError> {
    let finite = net.finite(data.x.ncols(), data.y.ncols(), nets)?;
    check_targets(finite.outputs(), data.y.ncols())?;
    // Fail before initializing: the learning rate and the loss curve's size.
    config.validate()?;
    let device = backend.device()?;
    let trained = match finite {
        Finite::Batched(mlp) => {
            let mut ens = Ensemble::init(&mlp, nets, seed, &device)?;
            // The test points must fit the networks' f32 arithmetic too, before training.
            ens.check_inputs(x)?;
            let pb = monitor.bar(config.steps as u64, "training steps");
            let stop = &mut monitor.stop;
            let mut progress = crate::progress::observer(&pb, stop);
            let report = train_reporting(
                &mut ens,
                data,
                config,
                &[],
                |_, _| Ok(()),
                Some(&mut progress),
            )?;
            pb.finish_and_clear();
            Trained {
                outputs: ens.predict(x)?,
                loss: report.loss,
            }
        }
        Finite::Flat(spec) => train_each(&spec, config, nets, seed, data, x, &device, monitor)?,
    };
    for (k, out) in trained.outputs.iter().enumerate() {
        let what = format!("the output of network {k} on the test points");
        check_finite_result(out, &what, F32_HINT)?;
    }
    Ok(trained)
}

/// Trains `nets` networks of `spec` as batched ensembles (autodiff, all members of a batch in one
/// computation: [`train_flat_ensemble`]): their outputs on `x` and the mean loss over networks
/// before each step.
#[allow(clippy::too_many_arguments)]
fn train_each(
    spec: &NetSpec,
    config: &TrainConfig,
    nets: usize,
    seed: u64,
    data: &TrainSet,
    x: &DMatrix<f64>,
    device: &sgntk_model::burn::tensor::Device,
    monitor: &mut Monitor,
) -> Result<Trained, ExpError> {
    sgntk_model::check_memory(
        "the networks' outputs",
        &[
            ("networks", nets as u64),
            ("points", x.nrows() as u64),
            ("outputs", data.y.ncols() as u64),
            ("bytes", 8),
        ],
    )
    .map_err(ModelError::from)?;
    // The test points must fit the networks' precision too, before any training.
    sgntk_model::flat::check_data(&spec.init(seed, 0, device)?, x, "test points")?;
    let batches = sgntk_model::member_batches(spec, data.x.nrows(), 0..nets).len();
    let steps = (config.steps as u64).saturating_mul(batches as u64);
    let pb = monitor.bar(steps, "training steps");
    let stop = &mut monitor.stop;
    let mut progress = crate::progress::observer(&pb, stop);
    let (trained, report) = train_flat_ensemble(
        spec,
        seed,
        0..nets,
        data,
        config,
        device,
        Some(&mut progress),
    )?;
    pb.finish_and_clear();
    let outputs = trained
        .iter()
        .map(|net| predict_flat(net, x))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Trained {
        outputs,
        loss: report.loss,
    })
}

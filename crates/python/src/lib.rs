//! `sgntk._sgntk`, the extension module of the `sgntk` Python package: the SG-NTK, NTK and NNGP
//! kernels, their GP predictions and GD/SGL training of ensembles, from numpy arrays.
//!
//! A thin layer: each function converts its arguments, releases the GIL and calls the function
//! of `sgntk_experiments::compute` that the CLI's subcommand calls (so `sgntk.train` and
//! `sgntk train` give the same numbers, bit for bit), then converts the result. Long work draws a
//! progress bar on stderr and checks for Ctrl-C between runs of training steps (about every
//! 50 ms) and between networks.

mod convert;
mod data;
mod net;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sgntk_experiments::cli::args::{parse_backend, parse_engine, Kind, Mode};
use sgntk_experiments::compute::{self, Monitor};
use sgntk_experiments::ExpError;
use sgntk_model::{BackendKind, Surrogate, TrainConfig, TrainSet};
use sgntk_ntk::empirical::ensemble_mean;

use convert::{count, parse, points, seed as seed_arg, targets, to_py, value_enum, Array};
pub use net::Net;

/// Runs `work` without the GIL, with a progress bar when `progress` and a stop check that
/// re-acquires the GIL to run Python's signal handlers (Ctrl-C raises KeyboardInterrupt, which
/// this returns). Errors become Python exceptions.
fn detached<T: Send>(
    py: Python<'_>,
    progress: bool,
    work: impl FnOnce(&mut Monitor) -> Result<T, ExpError> + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut stop = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    raised = Some(e);
                    true
                }
            })
        };
        work(&mut Monitor {
            progress,
            stop: &mut stop,
        })
    });
    result.map_err(|e| raised.take().unwrap_or_else(|| to_py(e)))
}

/// The backend of a `backend` argument (`flex`, `ndarray`, `wgpu`).
fn backend(s: &str) -> PyResult<BackendKind> {
    parse_backend(s).map_err(PyValueError::new_err)
}

/// The analytic (infinite-width) kernel matrix K(x1, x2) of ``net``, shape (n1, n2), float64.
///
/// ``kind``: ``"nngp"`` (Σ, the covariance at initialization), ``"ntk"`` (Θ, gradient descent) or
/// ``"sgntk"`` (the SG-NTK I of surrogate gradient learning: rows carry the true derivative,
/// columns the surrogate ``surrogate``, so in general it is asymmetric). ``surrogate`` is a spec
/// string as on the command line: ``erf-prime:A``, ``fast-sigmoid:K``, ``atan:A``,
/// ``sigmoid:K``, ``triangle:W``, ``boxcar:W``, ``straight-through``, ``true``. ``x2=None``
/// means ``x1``.
/// The same numbers as ``sgntk kernel``.
///
/// Raises ValueError for wrong shapes, non-finite inputs or unknown spec strings.
///
/// Example:
///
/// >>> import numpy as np, sgntk
/// >>> net = sgntk.Net.mlp(input_dim=2, activation="sign")
/// >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
/// >>> K = sgntk.kernel(net, x, kind="sgntk", surrogate="erf-prime")
/// >>> K.shape, bool(np.all(np.isfinite(K)))
/// ((3, 3), True)
/// >>> S = sgntk.kernel(net, x, kind="nngp")
/// >>> bool(np.allclose(S, S.T))
/// True
#[pyfunction]
#[pyo3(signature = (net, x1, x2=None, kind="sgntk", surrogate="erf-prime"))]
fn kernel<'py>(
    py: Python<'py>,
    net: &Net,
    x1: &Bound<'py, PyAny>,
    x2: Option<&Bound<'py, PyAny>>,
    kind: &str,
    surrogate: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let kind: Kind = value_enum(kind, "kind")?;
    let surrogate: Surrogate = parse(surrogate)?;
    let x1 = points(x1, "x1")?;
    net.check_points(&x1, "x1")?;
    let x2 = match x2 {
        Some(x2) => points(x2, "x2")?,
        None => x1.clone(),
    };
    net.check_points(&x2, "x2")?;
    let network = &net.network;
    let k = detached(py, false, |_| {
        compute::analytic_kernel(network, kind, surrogate, &x1, &x2)
    })?;
    Array::matrix(&k).into_py(py)
}

/// The GP prediction of infinitely wide networks trained on (``x_train``, ``y_train``) by the
/// kernel ``kind`` for time ``time``, at ``x_test``: ``(mean, std)``, or ``(mean, std, cov)``
/// with ``return_cov=True``. ``mean`` has the shape of ``y_train`` with ``x_test``'s points,
/// ``std`` is (n_test,), ``cov`` (n_test, n_test).
///
/// ``time``: ``numpy.inf`` (the end of training) or a number of steps of learning rate ``lr``,
/// as gradient flow, or with ``discrete=True`` as that many discrete steps of the linearized
/// network (compare with ``train(..., steps=T, lr=lr)``). ``kind="nngp"`` is the NNGP regression,
/// which is not trained (its ``time`` must stay infinite). The same numbers as ``sgntk predict``.
///
/// Raises ValueError for wrong shapes, non-finite inputs, unknown spec strings, or a kernel
/// system that is not positive definite or too ill-conditioned to solve.
///
/// Example:
///
/// >>> import numpy as np, sgntk
/// >>> net = sgntk.Net.mlp(input_dim=2, activation="sign")
/// >>> angles = np.linspace(-np.pi, np.pi, 8, endpoint=False)
/// >>> x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
/// >>> y = np.sin(2 * angles)
/// >>> mean, std = sgntk.predict(net, x, y, x[:3], kind="sgntk", time=1000, lr=0.1)
/// >>> mean.shape, std.shape
/// ((3,), (3,))
#[pyfunction]
#[pyo3(signature = (net, x_train, y_train, x_test, kind="sgntk", surrogate="erf-prime",
                    time=f64::INFINITY, lr=0.1, discrete=false, return_cov=false),
       text_signature = "(net, x_train, y_train, x_test, kind='sgntk', surrogate='erf-prime', \
                          time=math.inf, lr=0.1, discrete=False, return_cov=False)")]
#[allow(clippy::too_many_arguments)]
fn predict<'py>(
    py: Python<'py>,
    net: &Net,
    x_train: &Bound<'py, PyAny>,
    y_train: &Bound<'py, PyAny>,
    x_test: &Bound<'py, PyAny>,
    kind: &str,
    surrogate: &str,
    time: f64,
    lr: f64,
    discrete: bool,
    return_cov: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let kind: Kind = value_enum(kind, "kind")?;
    let surrogate: Surrogate = parse(surrogate)?;
    let xt = points(x_train, "x_train")?;
    net.check_points(&xt, "x_train")?;
    let (yt, flat) = targets(y_train, "y_train")?;
    let x = points(x_test, "x_test")?;
    net.check_points(&x, "x_test")?;
    let network = &net.network;
    let gp = detached(py, false, |_| {
        let time = compute::train_time(time, lr, discrete)?;
        compute::gp_prediction(network, kind, surrogate, time, &xt, &yt, &x)
    })?;
    let mut mean = Array::matrix(&gp.mean);
    if flat {
        mean.shape.truncate(1);
    }
    let mean = mean.into_py(py)?;
    let std = Array::vector(gp.std().as_slice().to_vec()).into_py(py)?;
    let out = if return_cov {
        let cov = Array::matrix(&gp.cov).into_py(py)?;
        (mean, std, cov).into_pyobject(py)?.into_any()
    } else {
        (mean, std).into_pyobject(py)?.into_any()
    };
    Ok(out)
}

/// Trains ``nets`` networks of ``net`` (member k drawn from ``seed`` on stream k) for ``steps``
/// full-batch steps of learning rate ``lr`` on (``x_train``, ``y_train``) and evaluates them on
/// ``x_test``. ``y_train``: shape (points,) or (points, outputs); an MLP of ``Net.mlp`` gets one
/// output per target column (the CLI's ``--targets``), a ``Net.from_toml`` network must have as
/// many outputs as there are columns. Returns ``(outs, losses)``: ``outs`` (nets, n_test,
/// outputs), ``losses`` (steps + 1,) the mean training loss L = 1/(2d) Σ ‖f(x) − y‖² over
/// networks before each step and after the last. The same numbers as ``sgntk train``, bit for
/// bit.
///
/// ``mode``: ``"sgl"`` (surrogate gradient learning: ``surrogate`` replaces φ' in the backward
/// pass) or ``"gd"`` (gradient descent). ``engine``: ``"auto"``, ``"fused"``, ``"lowrank"``,
/// ``"explicit"``, ``"autodiff"`` (MLPs; every engine gives the same numbers up to f32 rounding).
/// ``backend``: ``"flex"`` (CPU), ``"ndarray"`` or ``"wgpu"`` (GPU, when built with it).
/// The networks compute in f32. A progress bar is drawn on stderr (``progress=False``: none);
/// Ctrl-C interrupts within a fraction of a second (KeyboardInterrupt).
///
/// Raises ValueError for wrong shapes, non-finite data or unknown spec strings,
/// FloatingPointError when training diverges.
///
/// Example:
///
/// >>> import numpy as np, sgntk
/// >>> net = sgntk.Net.mlp(input_dim=2, activation="sign", width=32)
/// >>> angles = np.linspace(-np.pi, np.pi, 8, endpoint=False)
/// >>> x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
/// >>> outs, losses = sgntk.train(net, x, np.sin(2 * angles), x[:3], nets=4, steps=50, seed=0)
/// >>> outs.shape, losses.shape, bool(losses[-1] < losses[0])
/// ((4, 3, 1), (51,), True)
#[pyfunction]
#[pyo3(signature = (net, x_train, y_train, x_test, nets=10, steps=1000, lr=0.1, mode="sgl",
                    surrogate="erf-prime", seed=0, engine="auto", backend="flex", progress=true))]
#[allow(clippy::too_many_arguments)]
fn train<'py>(
    py: Python<'py>,
    net: &Net,
    x_train: &Bound<'py, PyAny>,
    y_train: &Bound<'py, PyAny>,
    x_test: &Bound<'py, PyAny>,
    nets: i64,
    steps: i64,
    lr: f64,
    mode: &str,
    surrogate: &str,
    seed: i128,
    engine: &str,
    backend: &str,
    progress: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (nets, steps, seed) = (
        count(nets, "nets")?,
        count(steps, "steps")?,
        seed_arg(seed)?,
    );
    let mode: Mode = value_enum(mode, "mode")?;
    let surrogate: Surrogate = parse(surrogate)?;
    let engine = parse_engine(engine).map_err(PyValueError::new_err)?;
    let backend = self::backend(backend)?;
    net.check_finite_width("train")?;
    let x = points(x_train, "x_train")?;
    net.check_points(&x, "x_train")?;
    let (y, _) = targets(y_train, "y_train")?;
    let test = points(x_test, "x_test")?;
    net.check_points(&test, "x_test")?;
    let config = TrainConfig {
        rule: mode.rule(surrogate),
        lr,
        steps,
        engine,
    };
    let network = &net.network;
    let trained = detached(py, progress, |monitor| {
        let data = TrainSet { x, y };
        compute::train_networks(network, &config, nets, seed, backend, &data, &test, monitor)
    })?;
    let outs = Array::stack(&trained.outputs).into_py(py)?;
    Ok((outs, Array::vector(trained.loss).into_py(py)?))
}

/// The empirical kernel K(x1, x2) of ``kind`` of ``nets`` finite networks of ``net`` at
/// initialization (member k drawn from ``seed`` on stream k, as in ``train``): their mean,
/// shape (n1, n2), or with ``per_net=True`` each network's, shape (nets, n1, n2).
///
/// ``kind``: ``"ntk"`` (J Jᵀ with the true derivative), ``"sgntk"`` (the true derivative on the
/// rows, ``surrogate`` on the columns) or ``"nngp"`` (f(x1) f(x2)ᵀ). For ``sign`` or ``step``
/// networks the true derivative vanishes, so use ``surrogate`` kinds or the analytic kernel.
/// The networks compute in f32. The same numbers as ``sgntk kernel --empirical``.
///
/// Raises ValueError for wrong shapes, non-finite inputs, unknown spec strings, or an MLP
/// without a ``width``.
///
/// Example:
///
/// >>> import numpy as np, sgntk
/// >>> net = sgntk.Net.mlp(input_dim=2, activation="erf:2", width=64)
/// >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
/// >>> sgntk.empirical_kernel(net, x, kind="ntk", nets=5, seed=1).shape
/// (2, 2)
/// >>> sgntk.empirical_kernel(net, x, kind="ntk", nets=5, seed=1, per_net=True).shape
/// (5, 2, 2)
#[pyfunction]
#[pyo3(signature = (net, x1, x2=None, kind="sgntk", surrogate="erf-prime", nets=10, seed=0,
                    per_net=false, backend="flex", progress=true))]
#[allow(clippy::too_many_arguments)]
fn empirical_kernel<'py>(
    py: Python<'py>,
    net: &Net,
    x1: &Bound<'py, PyAny>,
    x2: Option<&Bound<'py, PyAny>>,
    kind: &str,
    surrogate: &str,
    nets: i64,
    seed: i128,
    per_net: bool,
    backend: &str,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (nets, seed) = (count(nets, "nets")?, seed_arg(seed)?);
    let kind: Kind = value_enum(kind, "kind")?;
    let surrogate: Surrogate = parse(surrogate)?;
    let backend = self::backend(backend)?;
    net.check_finite_width("empirical_kernel")?;
    let x1 = points(x1, "x1")?;
    net.check_points(&x1, "x1")?;
    let x2 = match x2 {
        Some(x2) => points(x2, "x2")?,
        None => x1.clone(),
    };
    net.check_points(&x2, "x2")?;
    let network = &net.network;
    let kernels = detached(py, progress, |monitor| {
        compute::empirical_kernels(
            network, kind, surrogate, nets, seed, backend, &x1, &x2, monitor,
        )
    })?;
    if per_net {
        Array::stack(&kernels).into_py(py)
    } else {
        Array::matrix(&ensemble_mean(&kernels)).into_py(py)
    }
}

/// The SG-NTK, NTK and NNGP of surrogate gradient learning, their GP predictions and trained
/// ensembles, from numpy arrays (the Rust library `sgntk` underneath).
#[pymodule]
fn _sgntk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Net>()?;
    m.add_function(wrap_pyfunction!(kernel, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(empirical_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(data::paper_task, m)?)?;
    Ok(())
}

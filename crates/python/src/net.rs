//! `sgntk.Net`: the network of every computation, the MLP of the CLI's flags or any network
//! description (the TOML of `--net FILE`).

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use sgntk_experiments::compute::{MlpFlags, Network};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::Activation;

use crate::convert::{count, parse, to_py};

/// A network: an MLP (``Net.mlp``) or any network description (``Net.from_toml``: dense,
/// activation and residual layers with the NTK scales). The same object serves the analytic
/// (infinite-width) kernels and finite networks; an MLP's ``width`` only matters for finite
/// networks (``train``, ``empirical_kernel``).
///
/// Example:
///
/// >>> import sgntk
/// >>> net = sgntk.Net.mlp(input_dim=2, activation="sign", depth=3, width=64)
/// >>> net
/// Net.mlp(input_dim=2, activation='sign', depth=3, sigma_w=1.0, sigma_b=0.1, kappa=1.0, width=64)
/// >>> net.input_dim, net.width
/// (2, 64)
#[pyclass(module = "sgntk", frozen, name = "Net")]
pub struct Net {
    /// What the library computes with.
    pub network: Network,
    /// The input dimension n₀ the network takes.
    #[pyo3(get)]
    pub input_dim: usize,
}

#[pymethods]
impl Net {
    /// The paper's MLP: ``depth`` dense layers (``depth - 1`` hidden layers of width ``width``
    /// with activation φ, one output), weights N(0, 1) scaled by ``sigma_w``/√fan-in, biases by
    /// ``sigma_b``, the output by ``kappa`` (the NTK parameterization). ``activation`` is a spec
    /// string as on the command line: ``erf:M``, ``sign``, ``step``, ``relu``, ``tanh``,
    /// ``identity``. ``width=None`` describes the infinite-width network (analytic kernels only).
    ///
    /// Raises ValueError for an unknown activation or scales out of range.
    ///
    /// Example:
    ///
    /// >>> import sgntk
    /// >>> sgntk.Net.mlp(input_dim=2, activation="erf:5", sigma_b=0.0).width is None
    /// True
    #[staticmethod]
    #[pyo3(signature = (input_dim, *, activation, depth=3, sigma_w=1.0, sigma_b=0.1, kappa=1.0, width=None))]
    fn mlp(
        input_dim: i64,
        activation: &str,
        depth: i64,
        sigma_w: f64,
        sigma_b: f64,
        kappa: f64,
        width: Option<i64>,
    ) -> PyResult<Net> {
        let (input_dim, depth) = (count(input_dim, "input_dim")?, count(depth, "depth")?);
        let width = width.map(|w| count(w, "width")).transpose()?;
        if input_dim == 0 {
            return Err(PyValueError::new_err("input_dim must be ≥ 1, got 0"));
        }
        let network = Network::Mlp(MlpFlags {
            activation: parse::<Activation>(activation)?,
            depth,
            sigma_w,
            sigma_b,
            kappa,
            width,
        });
        network.validate().map_err(to_py)?;
        Ok(Net { network, input_dim })
    }

    /// Any network from its TOML description (the format of the CLI's ``--net FILE``): the
    /// text itself, or the path of a file (a ``str`` without ``=`` or a newline, or a
    /// ``pathlib.Path``). Residual networks, several activations, any widths.
    ///
    /// Raises ValueError for an invalid description, OSError for a file that cannot be read.
    ///
    /// Example:
    ///
    /// >>> import sgntk
    /// >>> net = sgntk.Net.from_toml('''
    /// ... input_dim = 2
    /// ... sigma_w = 1.0
    /// ... sigma_b = 0.1
    /// ... kappa = 1.0
    /// ... layers = [
    /// ...   { dense = { width = 64 } },
    /// ...   { residual = [{ act = "relu" }, { dense = { width = 64 } }] },
    /// ...   { act = "relu" },
    /// ...   { dense = { width = 1 } },
    /// ... ]
    /// ... ''')
    /// >>> net.input_dim
    /// 2
    #[staticmethod]
    fn from_toml(text_or_path: &Bound<'_, PyAny>) -> PyResult<Net> {
        let text = match text_or_path.cast::<PyString>() {
            Ok(s) => Some(s.to_cow()?.into_owned()),
            Err(_) => None,
        };
        let (text, origin) = match text {
            Some(t) if t.contains('\n') || t.contains('=') => (t, "the TOML text".to_string()),
            _ => {
                let path: PathBuf = text_or_path.extract()?;
                (std::fs::read_to_string(&path)?, path.display().to_string())
            }
        };
        let network = Network::from_toml(&text, &origin).map_err(to_py)?;
        let Network::Spec(spec) = &network else {
            unreachable!("from_toml gives a description")
        };
        let input_dim = spec.input_dim();
        Ok(Net { network, input_dim })
    }

    /// The hidden width of an MLP (``None``: infinite width, or a description, whose widths are
    /// in its layers).
    #[getter]
    fn width(&self) -> Option<usize> {
        match &self.network {
            Network::Mlp(mlp) => mlp.width,
            Network::Spec(_) => None,
        }
    }

    fn __repr__(&self) -> String {
        match &self.network {
            Network::Mlp(m) => format!(
                "Net.mlp(input_dim={}, activation='{}', depth={}, sigma_w={:?}, sigma_b={:?}, kappa={:?}, width={})",
                self.input_dim,
                m.activation,
                m.depth,
                m.sigma_w,
                m.sigma_b,
                m.kappa,
                m.width.map_or("None".into(), |w| w.to_string())
            ),
            Network::Spec(spec) => match toml::to_string(spec) {
                Ok(text) => format!("Net.from_toml('''\n{text}''')"),
                Err(_) => format!("{spec:?}"),
            },
        }
    }
}

impl Net {
    /// Fails unless the points of `name` have the network's input dimension.
    pub fn check_points(&self, x: &DMatrix<f64>, name: &str) -> PyResult<()> {
        if x.ncols() != self.input_dim {
            return Err(PyValueError::new_err(format!(
                "{name} has {} features per point, but the network takes input_dim = {}",
                x.ncols(),
                self.input_dim
            )));
        }
        Ok(())
    }

    /// Fails unless the network has finite networks (an MLP needs its width).
    pub fn check_finite_width(&self, what: &str) -> PyResult<()> {
        match &self.network {
            Network::Mlp(MlpFlags { width: None, .. }) => Err(PyValueError::new_err(format!(
                "{what} needs finite networks: give the hidden width, Net.mlp(..., width=N)"
            ))),
            _ => Ok(()),
        }
    }
}

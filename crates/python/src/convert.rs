//! numpy arrays in and out, spec strings, and the library's errors as Python exceptions.
//!
//! Arrays cross as raw float64 bytes through numpy's own Python API
//! (`numpy.ascontiguousarray(a, dtype=float64).tobytes()` in, `numpy.frombuffer(bytearray,
//! float64).reshape(shape)` out): one copy each way, any array-like accepted (lists, ints,
//! float32, non-contiguous views). The `numpy` crate is not used: its dependencies enable the
//! `default` features of `num-complex`, `num-integer` and `ndarray`, which burn's cubecl stack
//! uses without them, so it would compile burn a second time (see crates/python/Cargo.toml).

use pyo3::exceptions::{
    PyFloatingPointError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};
use sgntk_experiments::ExpError;
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::ModelError;
use sgntk_ntk::KernelError;

/// An array argument as float64 values in C order, and its shape.
pub struct Array {
    /// The shape.
    pub shape: Vec<usize>,
    /// The entries, last axis fastest.
    pub data: Vec<f64>,
}

impl Array {
    /// `numpy.ascontiguousarray(obj, dtype=numpy.float64)`, read into Rust (numpy's
    /// conversion errors, e.g. for strings or ragged lists, pass through as they are).
    pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Array> {
        let py = obj.py();
        let np = py.import("numpy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", np.getattr("float64")?)?;
        let arr = np.call_method("ascontiguousarray", (obj,), Some(&kwargs))?;
        let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
        let bytes = arr.call_method0("tobytes")?;
        let bytes = bytes.cast::<PyBytes>()?.as_bytes();
        let data = bytes
            .chunks_exact(8)
            .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Array { shape, data })
    }

    /// A matrix as an array of shape (rows, columns).
    pub fn matrix(m: &DMatrix<f64>) -> Array {
        // nalgebra stores columns; the transpose's columns are the rows.
        Array {
            shape: vec![m.nrows(), m.ncols()],
            data: m.transpose().as_slice().to_vec(),
        }
    }

    /// A vector as an array of shape (len,).
    pub fn vector(v: Vec<f64>) -> Array {
        Array {
            shape: vec![v.len()],
            data: v,
        }
    }

    /// Matrices of one shape stacked along a new first axis.
    pub fn stack(ms: &[DMatrix<f64>]) -> Array {
        let (r, c) = ms.first().map_or((0, 0), |m| (m.nrows(), m.ncols()));
        Array {
            shape: vec![ms.len(), r, c],
            data: ms.iter().flat_map(|m| Array::matrix(m).data).collect(),
        }
    }

    /// A new, writable numpy float64 array with this shape and these entries.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        let bytes: Vec<u8> = self.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let np = py.import("numpy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", np.getattr("float64")?)?;
        let flat = np.call_method("frombuffer", (PyByteArray::new(py, &bytes),), Some(&kwargs))?;
        flat.call_method1("reshape", (self.shape,))
    }
}

/// `name`, points × features: a 2-D array, or (points, H, W, C) with the trailing axes flattened
/// in C order (channels fastest).
pub fn points(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<DMatrix<f64>> {
    let a = Array::from_py(obj)?;
    if a.shape.len() < 2 {
        return Err(PyValueError::new_err(format!(
            "{name} must have shape (points, features), got shape {:?}",
            a.shape
        )));
    }
    let n = a.shape[0];
    let d: usize = a.shape[1..].iter().product();
    Ok(DMatrix::from_row_slice(n, d, &a.data))
}

/// `name`, targets: (points,) or (points, outputs), as points × outputs; and whether it was 1-D.
pub fn targets(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(DMatrix<f64>, bool)> {
    let a = Array::from_py(obj)?;
    match a.shape[..] {
        [n] => Ok((DMatrix::from_column_slice(n, 1, &a.data), true)),
        [n, k] => Ok((DMatrix::from_row_slice(n, k, &a.data), false)),
        _ => Err(PyValueError::new_err(format!(
            "{name} must have shape (points,) or (points, outputs), got shape {:?}",
            a.shape
        ))),
    }
}

/// A count argument (`nets`, `steps`, `width`, …) as usize: a negative one is a `ValueError`
/// naming it (a `usize` parameter would raise pyo3's `OverflowError`).
pub fn count(v: i64, name: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| PyValueError::new_err(format!("{name} must be ≥ 0, got {v}")))
}

/// A seed argument: 0 ≤ seed < 2⁶⁴, as the command line's `--seed`.
pub fn seed(v: i128) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| {
        PyValueError::new_err(format!("seed must be an integer in [0, 2^64), got {v}"))
    })
}

/// Parses a spec string (`erf:5`, `fast-sigmoid:25`, …) with the CLI's parser; its one-line
/// message becomes a `ValueError`.
pub fn parse<T: std::str::FromStr>(s: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// One of a clap value enum's names (`kind`, `mode`), case-insensitive.
pub fn value_enum<T: clap::ValueEnum>(s: &str, what: &str) -> PyResult<T> {
    T::from_str(s.trim(), true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| format!("'{}'", v.get_name()))
            .collect();
        PyValueError::new_err(format!(
            "unknown {what} '{s}' (expected {})",
            names.join(", ")
        ))
    })
}

/// The Python exception of a library error, with its one-line message: `ValueError` for bad
/// arguments and data, `FloatingPointError` for training that diverged, `MemoryError` for sizes
/// that do not fit, `OSError` for files, `RuntimeError` for a backend that cannot start.
pub fn to_py(e: ExpError) -> PyErr {
    let message = e.to_string();
    let model = match &e {
        ExpError::Model(m) => Some(m),
        ExpError::Kernel(KernelError::Network(m)) => Some(m),
        ExpError::Empirical(sgntk_ntk::empirical::EmpiricalError::Model(m)) => Some(m),
        _ => None,
    };
    match (&e, model) {
        (_, Some(ModelError::NonFiniteLoss { .. } | ModelError::NonFiniteParameters { .. })) => {
            PyFloatingPointError::new_err(message)
        }
        (_, Some(ModelError::Memory(_))) | (ExpError::Kernel(KernelError::Memory(_)), _) => {
            PyMemoryError::new_err(message)
        }
        (_, Some(ModelError::Backend { .. })) => PyRuntimeError::new_err(message),
        (ExpError::Io(_) | ExpError::Output { .. }, _) => PyOSError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

//! `sgntk.paper_task`: the paper's toy task (docs/MATH.md §7), the training and test points of
//! its figures as the CLI's figures draw them.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sgntk_experiments::FigureId;
use sgntk_model::data::{
    circle_points, targets, test_grid, train_angles, train_grid_angles, DataSource,
};
use sgntk_model::nalgebra::DMatrix;

use crate::convert::{count, parse, seed as seed_arg, Array};

/// The paper's regression task on the unit circle, x(α) = (sin α, cos α), target
/// f(x) = 4 x₀x₁² − 0.8 x₀³ + 1.2 x₁² − 0.8 x₀²x₁: the training and test points of ``figure``
/// as ``sgntk figure`` draws them. A dict of numpy arrays: ``train_angles``, ``x_train``
/// (points, 2), ``y_train`` (points,), ``test_angles``, ``x_test`` (grid, 2), ``y_test``.
///
/// Figures 1, 2 and B.1 draw ``points`` uniform angles; 3a, 3b and B.2 take ``points`` of the
/// ``grid`` test angles α = 2πi/grid − π. ``data="paper"``: the paper's own 15 points;
/// ``"seeded"``: drawn from ``seed`` (the CLI's quick preset: ``seed=2024``).
///
/// Example:
///
/// >>> import sgntk
/// >>> task = sgntk.paper_task("3a", data="paper")
/// >>> task["x_train"].shape, task["y_train"].shape, task["x_test"].shape
/// ((15, 2), (15,), (100, 2))
#[pyfunction]
#[pyo3(signature = (figure="3a", data="paper", points=15, grid=100, seed=2024))]
pub fn paper_task<'py>(
    py: Python<'py>,
    figure: &str,
    data: &str,
    points: i64,
    grid: i64,
    seed: i128,
) -> PyResult<Bound<'py, PyDict>> {
    let (points, grid, seed) = (
        count(points, "points")?,
        count(grid, "grid")?,
        seed_arg(seed)?,
    );
    let figure: FigureId = parse(figure)?;
    let source: DataSource = parse(data)?;
    if grid < 2 || points == 0 {
        return Err(PyValueError::new_err(format!(
            "need points ≥ 1 and grid ≥ 2, got points = {points}, grid = {grid}"
        )));
    }
    let test = test_grid(grid);
    let train = match figure.short_name() {
        "1" | "2" | "b1" => train_angles(source, points, seed),
        "3a" | "3b" | "b2" => train_grid_angles(source, &test, points, seed),
        other => {
            return Err(PyValueError::new_err(format!(
                "figure {other} has no regression task (expected 1, 2, b1, 3a, 3b or b2)"
            )))
        }
    }
    .map_err(PyValueError::new_err)?;
    let (x_train, x_test) = (circle_points(&train), circle_points(&test));
    let dict = PyDict::new(py);
    let column = |m: DMatrix<f64>| Array::vector(m.as_slice().to_vec());
    dict.set_item("train_angles", Array::vector(train).into_py(py)?)?;
    dict.set_item("x_train", Array::matrix(&x_train).into_py(py)?)?;
    dict.set_item("y_train", column(targets(&x_train)).into_py(py)?)?;
    dict.set_item("test_angles", Array::vector(test).into_py(py)?)?;
    dict.set_item("x_test", Array::matrix(&x_test).into_py(py)?)?;
    dict.set_item("y_test", column(targets(&x_test)).into_py(py)?)?;
    Ok(dict)
}

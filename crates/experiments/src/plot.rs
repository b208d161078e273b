//! TEMPORARY placeholder until the plotting module lands (same API).
#![allow(missing_docs)]
use std::path::{Path, PathBuf};

pub enum Mark {
    Line { width: u32, dashed: bool },
    Crosses { size: u32 },
    Dots { size: u32 },
}
pub struct Series {
    pub label: Option<String>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub color: (u8, u8, u8),
    pub alpha: f64,
    pub mark: Mark,
}
pub struct Band {
    pub label: Option<String>,
    pub x: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub color: (u8, u8, u8),
    pub alpha: f64,
}
pub enum Scale {
    Linear,
    Log10,
    Asinh { linear_width: f64 },
}
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub bands: Vec<Band>,
    pub series: Vec<Series>,
    pub legend: bool,
}
pub struct Figure {
    pub title: Option<String>,
    pub rows: usize,
    pub cols: usize,
    pub panel_size: (u32, u32),
    pub panels: Vec<Panel>,
}
#[derive(Debug)]
pub struct PlotError;
impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plot")
    }
}
pub fn render(_fig: &Figure, _stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    Ok(vec![])
}

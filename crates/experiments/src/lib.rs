//! # sgntk-experiments
//!
//! Drivers for the paper's experiments and the `sgntk` command-line tool: settings and presets
//! ([`settings`]), the figures ([`figures`]), resumable runs ([`cache`]), plots ([`plot`]) and data
//! files in and out ([`io`]).

pub mod bench;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod error;
pub mod figures;
pub mod io;
pub mod plot;
pub mod progress;
pub mod settings;
pub mod shard;
pub mod slurm;
pub mod sweep;

pub use error::ExpError;
pub use figures::{run_figure, FigureId, FigureReport, RunOptions};
pub use settings::{Preset, Settings};

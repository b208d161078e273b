//! # sgntk-experiments
//!
//! Drivers for the paper's experiments and the `sgntk` command-line tool: settings and presets
//! ([`settings`]), the figures ([`figures`]), resumable runs ([`cache`]), plots ([`plot`]), data
//! files in and out ([`io`], NumPy files in [`npy`]) and saved networks ([`networks`]), and the
//! computations of `kernel`, `predict` and `train` on matrices in memory ([`compute`], the
//! Python package's way in; they call the same library functions as the command line).
//!
//! A figure from the library: Fig. B.1 (nothing to train) into a directory, with its typed summary:
//!
//! ```
//! use sgntk_experiments::figures::TargetSummary;
//! use sgntk_experiments::{run_figure, RunOptions};
//! let out = std::env::temp_dir().join(format!("sgntk-doctest-{}", std::process::id()));
//! let opts = RunOptions { out: out.clone(), ..RunOptions::default() }; // quick preset
//! let report = run_figure("b1".parse()?, &opts)?.expect("not sharded");
//! let summary: TargetSummary = serde_json::from_value(report.summary)?;
//! assert_eq!(summary.train_targets.len(), 15);
//! assert!(out.join("figb1.png").exists() && out.join("figb1.json").exists());
//! # std::fs::remove_dir_all(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod compute;
pub mod error;
pub mod figures;
pub mod io;
pub mod networks;
pub mod npy;
pub mod plot;
pub mod progress;
pub mod settings;
pub mod shard;
pub mod slurm;
pub mod stats;
pub mod sweep;

pub use error::ExpError;
pub use figures::{run_figure, FigureId, FigureReport, RunOptions};
pub use settings::{Preset, Settings};

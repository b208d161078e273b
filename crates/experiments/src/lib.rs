//! # sgntk-experiments
//!
//! Drivers for the paper's experiments and the `sgntk` command-line tool: data files in and out.

pub mod io;

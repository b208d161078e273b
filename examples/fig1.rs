//! Fig. 1 of the paper at the quick preset (`--paper` for the paper's scale).
//!
//! ```text
//! cargo run --release --example fig1 [-- --paper] [--backend flex] [--out figures]
//! ```

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::example_main(sgntk::experiments::FigureId::Fig1)
}

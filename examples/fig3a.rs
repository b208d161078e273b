//! Fig. 3a of the paper at the quick preset (`--paper` for the paper's scale).
//!
//! ```text
//! cargo run --release --example fig3a [-- --paper] [--backend flex] [--out figures]
//! ```

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::example_main(sgntk::experiments::FigureId::Fig3a)
}

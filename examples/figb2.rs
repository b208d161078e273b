//! Fig. B.2 of the paper at the quick preset (`--paper` for the paper's scale).
//!
//! ```text
//! cargo run --release --example figb2 [-- --paper] [--backend flex] [--out figures]
//! ```

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::example_main(sgntk::experiments::FigureId::B2)
}

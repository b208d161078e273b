//! Fig. B.1: the target function and the training points.
//! `sgntk figure figb1` with the same flags: `cargo run --release --example figb1 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("figb1"))
}

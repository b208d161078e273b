//! Fig. B.3: MSE of the empirical NTK vs width (from the networks of Fig. 1).
//! `sgntk figure figb3` with the same flags: `cargo run --release --example figb3 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("figb3"))
}

//! Fig. B.4: MSE of the empirical SG-NTK vs width (from the networks of Fig. 2).
//! `sgntk figure figb4` with the same flags: `cargo run --release --example figb4 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("figb4"))
}

//! Fig. 3a: sign networks trained by SGL vs the SG-NTK GP and the Σ regression.
//! `sgntk figure fig3a` with the same flags: `cargo run --release --example fig3a -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("fig3a"))
}

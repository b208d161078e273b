//! Fig. 3b: ensemble means over widths vs the SG-NTK GP.
//! `sgntk figure fig3b` with the same flags: `cargo run --release --example fig3b -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("fig3b"))
}

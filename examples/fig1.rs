//! Fig. 1: the empirical NTK at t = 0 and after GD vs the analytic NTK.
//! `sgntk figure fig1` with the same flags: `cargo run --release --example fig1 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("fig1"))
}

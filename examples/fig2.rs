//! Fig. 2: the empirical SG-NTK at t = 0 and after SGL vs the analytic SG-NTK.
//! `sgntk figure fig2` with the same flags: `cargo run --release --example fig2 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("fig2"))
}

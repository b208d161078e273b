//! `figure cnn`: the empirical SG-NTK of erf_m CNNs at t = 0 and after SGL vs the analytic
//! SG-NTK, and its MSE vs channels.
//! `sgntk figure cnn` with the same flags: `cargo run --release --example cnn -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("cnn"))
}

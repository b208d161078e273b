//! The LIF spiking network: empirical SG-NTK at init and after SGL (not in the paper).
//! `sgntk figure snn` with the same flags: `cargo run --release --example snn -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("snn"))
}

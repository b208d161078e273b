//! The κ study: Fig. B.2's sign networks over last-layer scale κ, width n and training time t vs
//! the SG-NTK GP (the paper's App. A claim). `sgntk figure kappa` with the same flags:
//! `cargo run --release --example kappa -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("kappa"))
}

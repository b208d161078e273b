//! Fig. B.2: Fig. 3a with last-layer scale κ = 0.2.
//! `sgntk figure figb2` with the same flags: `cargo run --release --example figb2 -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("figb2"))
}

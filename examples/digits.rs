//! Sign MLPs and CNNs trained by SGL on the handwritten digits vs their SG-NTK GP (not in the paper;
//! docs/BEYOND.md). `sgntk figure digits` with the same flags: `cargo run --release --example digits -- --paper`.

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(Some("digits"))
}

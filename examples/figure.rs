//! Any figure of the registry, or `all`, or `list`: `sgntk figure NAME` with the same flags; each
//! figure also has its own example (`cargo run --release --example fig3a`).
//!
//! ```text
//! cargo run --release --example figure -- all --paper --out figures
//! cargo run --release --example figure -- list
//! ```

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::figure_example(None)
}

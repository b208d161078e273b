//! Any figure of the registry (`sgntk_experiments::figures::REGISTRY`) at the quick preset,
//! `--paper` for the paper's scale; the same as `sgntk figure NAME`.
//!
//! ```text
//! cargo run --release --example figure -- 3a [--paper] [--backend flex] [--out figures]
//! cargo run --release --example figure -- snn      # the LIF spiking network's SG-NTK
//! cargo run --release --example figure -- list     # every registered figure
//! ```

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::example_main()
}

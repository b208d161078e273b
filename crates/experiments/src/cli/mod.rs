//! The `sgntk` command line: [`main`] parses the arguments ([`args`]) and runs the subcommand
//! ([`crate::commands::run`]). Flag names and file formats are a contract (see the README); any
//! error prints one line `error: …` to stderr and exits with status 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sgntk_model::BackendKind;

pub mod args;
pub use args::*;

use crate::commands::{run, run_figures};
use crate::error::ExpError;
use crate::plot::Format;
use crate::settings::Preset;

/// Prints `error: …` on one line (control characters escaped) and returns exit status 2.
fn fail(e: &ExpError) -> ExitCode {
    eprintln!(
        "error: {}",
        sgntk_model::error::escape_controls(&e.to_string())
    );
    ExitCode::from(2)
}

/// Help and version go to stdout in full (status 0); usage errors become one line (status 2).
fn clap_exit(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let rest: Vec<&str> = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    // "the following required arguments were not provided:" lists them on the next lines;
    // an invalid value is followed by "[possible values: …]" and maybe "tip: …".
    let message = if first.ends_with(':') {
        format!("{first} {}", rest.join(", "))
    } else if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first} {}", rest.join("; "))
    };
    eprintln!("error: {} (see --help)", excerpt_quoted(&message));
    ExitCode::from(2)
}

/// `message` with every value it quotes (between `'…'` or `` `…` ``, as clap and the value
/// parsers quote what the user typed) shortened and escaped by [`sgntk_model::error::excerpt`],
/// and any control character left outside quotes escaped too.
fn excerpt_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['\'', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('`');
        let (before, after) = rest.split_at(open + quote.len_utf8());
        let Some(close) = after.find(quote) else {
            out.push_str(before);
            rest = after;
            break;
        };
        out.push_str(before);
        out.push_str(&sgntk_model::error::excerpt(&after[..close]));
        out.push(quote);
        rest = &after[close + quote.len_utf8()..];
    }
    out.push_str(rest);
    sgntk_model::error::escape_controls(&out)
}

/// The `sgntk` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    // long analytic kernels print an estimate and draw a bar
    sgntk_ntk::set_progress(Some(std::sync::Arc::new(
        crate::progress::KernelBar::default(),
    )));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Flags of the `figure` example.
#[derive(Debug, Parser)]
struct ExampleArgs {
    /// Figure: 1, 2, 3a, 3b, b1, b2, b3, b4, snn or all.
    which: String,
    /// Run at the paper's scale instead of the quick preset.
    #[arg(long)]
    paper: bool,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, value_parser = args::parse_backend, default_value = "flex")]
    backend: BackendKind,
    /// Seed of the network initializations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// TOML file overriding settings.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Entry point of `examples/figure.rs`: any registered figure at the quick preset, `--paper` for
/// the paper's scale.
pub fn example_main() -> ExitCode {
    let a = match ExampleArgs::try_parse() {
        Ok(a) => a,
        Err(e) => return clap_exit(e),
    };
    let args = FigureArgs {
        which: a.which,
        preset: if a.paper {
            Preset::Paper
        } else {
            Preset::Quick
        },
        backend: a.backend,
        seed: a.seed,
        out: a.out,
        config: a.config,
        data: None,
        threads: None,
        shard: None,
        format: Format::Both,
    };
    match run_figures(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

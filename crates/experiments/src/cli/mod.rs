//! The `sgntk` command line: [`main`] parses the arguments ([`args`]) and runs the subcommand
//! ([`crate::commands::run`]). Flag names and file formats are a contract (see the README); any
//! error prints one line `error: …` to stderr and exits with status 2.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub mod args;
pub use args::*;

use crate::commands::run;
use crate::error::ExpError;

/// Prints `error: …` and returns exit status 2.
fn fail(e: &ExpError) -> ExitCode {
    eprintln!("error: {e}");
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
    // "the following required arguments were not provided:" lists them on the next lines
    let mut message = first.to_string();
    if first.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
        message = format!("{first} {}", listed.join(", "));
    }
    eprintln!("error: {message} (see --help)");
    ExitCode::from(2)
}

/// The `sgntk` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Entry point of the figure examples (`examples/fig3a.rs`, …, `examples/figure.rs`): the
/// arguments of `sgntk figure`, parsed by the CLI's own parser ([`Cli`]), with the figure fixed
/// to `which` (`None`: the first argument names it, as in `sgntk figure NAME`). So
/// `cargo run --release --example fig3a -- --paper --out figures` is
/// `sgntk figure 3a --paper --out figures`.
pub fn figure_example(which: Option<&str>) -> ExitCode {
    let mut argv: Vec<OsString> = vec!["sgntk".into(), "figure".into()];
    argv.extend(which.map(OsString::from));
    argv.extend(std::env::args_os().skip(1));
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Preset;

    fn figure(args: &[&str]) -> Result<FigureArgs, clap::Error> {
        let argv = ["sgntk", "figure"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Figure(a) => Ok(a),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn paper_is_the_paper_preset() {
        assert_eq!(figure(&["3a"]).unwrap().preset, Preset::Quick);
        assert_eq!(figure(&["3a", "--paper"]).unwrap().preset, Preset::Paper);
        let a = figure(&["3a", "--preset", "paper"]).unwrap();
        assert_eq!((a.preset, a.paper), (Preset::Paper, false));
        assert!(figure(&["3a", "--paper", "--preset", "quick"]).is_err());
        // The reproducing arguments name the preset, never --paper.
        let args = figure(&["3a", "--paper"]).unwrap().to_args().unwrap();
        assert!(
            args.windows(2).any(|w| w == ["--preset", "paper"]),
            "{args:?}"
        );
    }
}

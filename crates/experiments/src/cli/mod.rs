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

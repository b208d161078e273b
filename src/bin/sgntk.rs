//! The `sgntk` command-line tool (see `sgntk --help` and the README).

fn main() -> std::process::ExitCode {
    sgntk::experiments::cli::main()
}

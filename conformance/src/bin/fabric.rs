//! The `fabric` command: parses arguments and calls the library.

use clap::Parser;
use fabric_conformance::cli::{default_log_filter, is_broken_pipe, run, Cli};

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("FABRIC_LOG")
        .unwrap_or_else(|_| default_log_filter(&cli.command).into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        // The reader went away (`fabric claims | head -1`): nothing is wrong.
        Err(e) if is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

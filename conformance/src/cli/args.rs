//! The arguments of the `fabric` command line.

use crate::areas;
use crate::replay::Transport;
use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `--model`'s values: `all` and every area of the registry.
fn model_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(areas::known_names())
}

/// `explore --model`'s values: one area of the registry.
fn area_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(areas::AREAS.iter().map(|a| a.name()))
}

/// `--area`'s values: the claim-ID prefixes of `CLAIMS.md`.
fn claim_prefix_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(crate::claims::CLAIM_PREFIXES)
}

/// Checks a cloud fabric's security claims: a formal model, a working
/// implementation, and traces that hold each to the other.
#[derive(Debug, Parser)]
#[command(name = "fabric", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON, for tools.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the model checker over every claim's properties.
    Check {
        /// The model to check, or `all`.
        #[arg(long, default_value = "all", value_parser = model_parser())]
        model: String,
        /// Build the model with this deliberate flaw (see `fabric flaws`).
        #[arg(long)]
        flaw: Option<String>,
        /// Larger bounds (slower).
        #[arg(long)]
        deep: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Checker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// List the deliberate flaws and the claims each breaks.
    Flaws {
        /// The model, or `all`.
        #[arg(long, default_value = "all", value_parser = model_parser())]
        model: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Explore a model in the browser (stateright's explorer).
    Explore {
        /// The model.
        #[arg(long, default_value = "network", value_parser = area_parser())]
        model: String,
        /// Build the model with this flaw.
        #[arg(long)]
        flaw: Option<String>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
    },
    /// Generate trace files from the model.
    Traces {
        /// What to do with traces.
        #[command(subcommand)]
        action: TracesCommand,
    },
    /// Replay trace files against the implementation.
    Replay {
        /// Trace files or folders (default: `traces/`).
        paths: Vec<PathBuf>,
        /// How to reach the implementation.
        #[arg(long, value_enum, default_value = "inproc")]
        transport: Transport,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Replay the storage traces against another Blob service (such as
        /// Azurite) at this path-style endpoint, `http://HOST:PORT/ACCOUNT`,
        /// instead of fabric's own; what it cannot do is reported as such.
        #[arg(long, value_name = "URL", conflicts_with = "transport")]
        peer: Option<String>,
        /// The account to sign for on the peer.
        #[arg(
            long,
            value_name = "NAME",
            default_value = fabric_impl::storage::service::DEFAULT_ACCOUNT,
            requires = "peer"
        )]
        peer_account: String,
        /// The peer account's key (default: the emulator's well-known key).
        #[arg(
            long,
            value_name = "BASE64",
            default_value = fabric_impl::storage::service::DEFAULT_ACCOUNT_KEY,
            hide_default_value = true,
            requires = "peer"
        )]
        peer_key: String,
    },
    /// Show the claims catalogue, or check that every claim is traceable.
    Claims {
        /// Fail unless every claim (of `--area`) links to a property, a flaw,
        /// an enforcement point, a conformance test and a trace.
        #[arg(long)]
        check: bool,
        /// Only claims with this prefix, such as `NET`.
        #[arg(long, value_parser = claim_prefix_parser())]
        area: Option<String>,
        /// The project's catalogue.
        #[arg(long, default_value = "docs/claims.md")]
        catalogue: PathBuf,
        /// The shared list of claim IDs.
        #[arg(long, default_value = "../shared/CLAIMS.md")]
        shared: PathBuf,
    },
    /// Start a fabric on loopback and print its topology.
    Up {
        /// Hosts, each with an FA.
        #[arg(long, default_value_t = 2)]
        hosts: u8,
        /// Applications, each with a web and a worker instance.
        #[arg(long, default_value_t = 2)]
        apps: u8,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        for_secs: Option<u64>,
    },
    /// Run one service of the fabric on its own.
    Serve {
        /// Which service.
        #[command(subcommand)]
        service: ServeCommand,
    },
    /// Run a scripted tour that shows the rules at work.
    Demo {
        /// Which tour.
        #[command(subcommand)]
        tour: DemoCommand,
    },
}

/// `fabric traces ...`
#[derive(Debug, Subcommand)]
pub enum TracesCommand {
    /// Generate coverage traces, one counterexample per flaw, and random walks.
    Generate {
        /// The model, or `all`.
        #[arg(long, default_value = "all", value_parser = model_parser())]
        model: String,
        /// Where to write (a folder per model is made inside).
        #[arg(long, default_value = "traces")]
        out: PathBuf,
    },
}

/// `fabric serve ...`
#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The Azure-Blob-compatible storage service (path-style URLs:
    /// `http://ADDR/ACCOUNT/container/blob`). Prints a connection string per
    /// account.
    Storage {
        /// Where to listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:10000")]
        listen: String,
        /// Where the three replicas of each account keep their data.
        #[arg(long, default_value = "fabric-data")]
        data: PathBuf,
        /// An account as `NAME:BASE64KEY` (optionally `@LOCATION`);
        /// repeatable. Default: the emulator's `devstoreaccount1` and its
        /// well-known key.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// The subscription's credential for key changes (default: random,
        /// printed at start).
        #[arg(long)]
        subscription_token: Option<String>,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        for_secs: Option<u64>,
    },
}

/// `fabric demo ...`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Packets allowed and dropped by the virtual network, with reasons and claim IDs.
    Network,
}

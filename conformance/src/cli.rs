//! The `fabric` command line: argument definitions and dispatch. The binary
//! only parses and calls [`run`].

use crate::check::{self, ModelReport};
use crate::replay::{collect_trace_files, ReplayReport, Verdict};
use crate::storage::{PeerTarget, PEER_CANNOT};
use crate::{claims, demo, generate, graph::StateGraph, network};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use fabric_impl::bugs::BugSet;
use fabric_model::network::{Flaw, NetworkConfig, NetworkModel};
use fabric_model::storage::{Flaw as StorageFlaw, StorageConfig, StorageModel};
use fabric_model::trace::TracedModel;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// How replay reaches the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Everything in this process (fast).
    Inproc,
    /// The control plane over real mutually authenticated TLS on loopback.
    Wire,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the model checker over every claim's properties.
    Check {
        /// The model to check: `network`, or `all`.
        #[arg(long, default_value = "all")]
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
        /// The model: `network`, or `all`.
        #[arg(long, default_value = "all")]
        model: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Explore a model in the browser (stateright's explorer).
    Explore {
        /// The model.
        #[arg(long, default_value = "network")]
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
        /// Only claims of this area, such as `NET`.
        #[arg(long)]
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
        /// The model: `network`, or `all`.
        #[arg(long, default_value = "all")]
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

/// The models `--model` accepts.
pub const MODELS: &[&str] = &["network", "storage"];

fn models(name: &str) -> Result<Vec<&'static str>> {
    if name == "all" {
        return Ok(MODELS.to_vec());
    }
    match MODELS.iter().find(|m| **m == name) {
        Some(m) => Ok(vec![*m]),
        None => bail!("unknown model {name:?}; known: all, {}", MODELS.join(", ")),
    }
}

fn network_flaw(name: Option<&str>) -> Result<Option<Flaw>> {
    match name {
        None => Ok(None),
        Some(n) => match Flaw::from_name(n) {
            Some(f) => Ok(Some(f)),
            None => {
                let names: Vec<&str> = Flaw::ALL.iter().map(|f| f.name()).collect();
                bail!(
                    "unknown flaw {n:?}; the network model's flaws are: {}",
                    names.join(", ")
                )
            }
        },
    }
}

fn storage_flaw(name: Option<&str>) -> Result<Option<StorageFlaw>> {
    match name {
        None => Ok(None),
        Some(n) => match StorageFlaw::from_name(n) {
            Some(f) => Ok(Some(f)),
            None => {
                let names: Vec<&str> = StorageFlaw::ALL.iter().map(|f| f.name()).collect();
                bail!(
                    "unknown flaw {n:?}; the storage model's flaws are: {}",
                    names.join(", ")
                )
            }
        },
    }
}

/// A deliberate flaw of some model, as `fabric flaws` lists it.
#[derive(Debug, serde::Serialize)]
pub struct FlawRow {
    /// The model.
    pub model: &'static str,
    /// The flaw's name.
    #[serde(rename = "flaw")]
    pub name: &'static str,
    /// The claim IDs it breaks.
    pub breaks: Vec<String>,
    /// The mechanism it removes.
    pub description: &'static str,
}

/// Every flaw of every model.
pub fn all_flaws() -> Vec<FlawRow> {
    use fabric_model::TracedModel;
    let mut rows: Vec<FlawRow> = Flaw::ALL
        .iter()
        .map(|f| FlawRow {
            model: "network",
            name: f.name(),
            breaks: f
                .breaks()
                .numbers()
                .map(NetworkModel::claim_label)
                .collect(),
            description: f.description(),
        })
        .collect();
    rows.extend(StorageFlaw::ALL.iter().map(|f| {
        FlawRow {
            model: "storage",
            name: f.name(),
            breaks: f
                .breaks()
                .numbers()
                .map(StorageModel::claim_label)
                .collect(),
            description: f.description(),
        }
    }));
    rows
}

/// Checks model `m`, with `flaw` if it is one of that model's; `None` when
/// the flaw belongs to another model.
fn check_by_name(
    m: &str,
    flaw: Option<&str>,
    deep: bool,
    threads: usize,
    progress: impl FnMut(usize),
) -> Option<ModelReport> {
    match m {
        "storage" => {
            let f = match flaw {
                None => None,
                Some(n) => Some(StorageFlaw::from_name(n)?),
            };
            let cfg = if deep {
                StorageConfig::deep()
            } else {
                StorageConfig::default()
            };
            Some(check::check_model(
                cfg.with_flaw(f).into_model(),
                threads,
                progress,
            ))
        }
        _ => {
            let f = match flaw {
                None => None,
                Some(n) => Some(Flaw::from_name(n)?),
            };
            let cfg = if deep {
                NetworkConfig::deep()
            } else {
                NetworkConfig::default()
            };
            Some(check::check_model(
                cfg.with_flaw(f).into_model(),
                threads,
                progress,
            ))
        }
    }
}

/// Serves stateright's explorer for `model` until the process is stopped.
fn serve<M>(model: M, addr: std::net::SocketAddr)
where
    M: stateright::Model + Send + Sync + 'static,
    M::State: std::fmt::Debug + std::hash::Hash + Send + Sync + Clone + PartialEq,
    M::Action: std::fmt::Debug + Send + Sync + Clone + PartialEq,
{
    let _ = model.checker().serve(addr);
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The log filter when `FABRIC_LOG` is not set: warnings, except that replay
/// and the demo, which send refused certificates on purpose and report each
/// refusal themselves, leave out the TLS layer's warning for every one.
pub fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::Replay { .. } | Command::Demo { .. } => "warn,fabric_impl::control::tls=error",
        _ => "warn",
    }
}

/// Runs the command line; the exit code is 0 on success, 1 when a check or
/// replay failed.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Check {
            model,
            flaw,
            deep,
            format,
            threads,
        } => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let mut reports: Vec<ModelReport> = Vec::new();
            for m in models(&model)? {
                let bar = spinner(&format!("checking {m}"));
                let progress = |n: usize| bar.set_message(format!("checking {m}: {n} states"));
                let report = check_by_name(m, flaw.as_deref(), deep, threads, progress);
                bar.finish_and_clear();
                // A flaw belongs to one model: the others are not checked with it.
                let Some(report) = report else { continue };
                if format == Format::Text {
                    print!("{}", check::render_text(&report));
                }
                reports.push(report);
            }
            if reports.is_empty() {
                let names: Vec<String> = all_flaws()
                    .into_iter()
                    .map(|f| f.name.to_string())
                    .collect();
                bail!(
                    "unknown flaw {:?} for --model {model}; the flaws are: {}",
                    flaw.unwrap_or_default(),
                    names.join(", ")
                );
            }
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
            let ok = reports.iter().all(ModelReport::ok);
            if format == Format::Text {
                println!(
                    "{}",
                    if ok {
                        "every property holds and every allowed case is reached"
                    } else {
                        "some properties FAILED"
                    }
                );
            }
            Ok(if ok { 0 } else { 1 })
        }
        Command::Flaws { model, format } => {
            let wanted = models(&model)?;
            let rows: Vec<FlawRow> = all_flaws()
                .into_iter()
                .filter(|f| wanted.contains(&f.model))
                .collect();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Text => {
                    println!(
                        "{:<8} {:<30} {:<16} WHAT IT REMOVES",
                        "MODEL", "FLAW", "BREAKS"
                    );
                    for f in rows {
                        println!(
                            "{:<8} {:<30} {:<16} {}",
                            f.model,
                            f.name,
                            f.breaks.join(","),
                            f.description
                        );
                    }
                }
            }
            Ok(0)
        }
        Command::Explore {
            model,
            flaw,
            listen,
        } => {
            let m = *models(&model)?.first().context("no model")?;
            // stateright's explorer panics when it cannot bind: find out first.
            let probe = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = probe.local_addr()?;
            drop(probe);
            let shown = flaw.as_deref().unwrap_or("none");
            println!("explorer for the {m} model (flaw: {shown}) at http://{addr}/");
            println!("press Ctrl-C to stop");
            match m {
                "storage" => {
                    let f = storage_flaw(flaw.as_deref())?;
                    serve(StorageConfig::default().with_flaw(f).into_model(), addr);
                }
                _ => {
                    let f = network_flaw(flaw.as_deref())?;
                    serve(NetworkConfig::default().with_flaw(f).into_model(), addr);
                }
            }
            Ok(0)
        }
        Command::Traces {
            action: TracesCommand::Generate { model, out },
        } => {
            for m in models(&model)? {
                let bar = spinner(&format!("generating {m} traces"));
                let written = match m {
                    "storage" => generate_storage_traces(&out, |msg| bar.set_message(msg))?,
                    _ => generate_network_traces(&out, |msg| bar.set_message(msg))?,
                };
                bar.finish_and_clear();
                println!(
                    "{m}: wrote {written} traces under {}",
                    out.join(m).display()
                );
            }
            Ok(0)
        }
        Command::Replay {
            paths,
            transport,
            format,
            peer,
            peer_account,
            peer_key,
        } => match peer {
            None => run_replay(paths, transport, format),
            Some(endpoint) => {
                let peer = PeerTarget::new(&endpoint, &peer_account, &peer_key)?;
                run_replay_on_peer(paths, &peer, format)
            }
        },
        Command::Claims {
            check,
            area,
            catalogue,
            shared,
        } => claims::run_cli(&catalogue, &shared, area.as_deref(), check),
        Command::Serve {
            service:
                ServeCommand::Storage {
                    listen,
                    data,
                    accounts,
                    subscription_token,
                    for_secs,
                },
        } => crate::serve::run(crate::serve::ServeStorage {
            listen,
            data,
            accounts,
            subscription_token,
            for_secs,
        }),
        Command::Up {
            hosts,
            apps,
            for_secs,
        } => demo::up(hosts, apps, for_secs),
        Command::Demo {
            tour: DemoCommand::Network,
        } => demo::network(),
    }
}

/// Random walks generated per model.
pub const WALK_SEEDS: [u64; 3] = [1, 2, 3];
/// Steps per random walk.
pub const WALK_STEPS: usize = 40;

/// Every network trace, named: coverage, a counterexample per flaw, walks.
pub fn network_traces(
    progress: impl FnMut(String),
) -> Result<Vec<(String, NetworkModel, crate::Trace<NetworkModel>)>> {
    let flawed = Flaw::ALL
        .into_iter()
        .map(|flaw| {
            (
                flaw.to_string(),
                NetworkConfig::default().with_flaw(Some(flaw)).into_model(),
            )
        })
        .collect();
    model_traces(NetworkConfig::default().into_model(), flawed, progress)
}

/// Every storage trace: coverage, one counterexample per flaw, random walks
/// (alternating between the two scenarios).
pub fn storage_traces(
    progress: impl FnMut(String),
) -> Result<Vec<(String, StorageModel, crate::Trace<StorageModel>)>> {
    let flawed = StorageFlaw::ALL
        .into_iter()
        .map(|flaw| {
            (
                flaw.to_string(),
                StorageConfig::default().with_flaw(Some(flaw)).into_model(),
            )
        })
        .collect();
    model_traces(StorageConfig::default().into_model(), flawed, progress)
}

/// Coverage traces of `model`, a counterexample for each of `flawed`, and
/// random walks.
fn model_traces<M>(
    model: M,
    flawed: Vec<(String, M)>,
    mut progress: impl FnMut(String),
) -> Result<Vec<(String, M, crate::Trace<M>)>>
where
    M: TracedModel + Clone,
    M::State: Clone + Eq + std::hash::Hash,
    M::Action: serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    progress(format!("exploring the {} model", M::AREA));
    let graph = StateGraph::explore(&model, 5_000_000, |_| {})?;
    let mut traces = Vec::new();
    progress("choosing coverage paths".into());
    for (name, trace) in generate::coverage(&model, &graph) {
        traces.push((name, model.clone(), trace));
    }
    for (flaw, flawed) in flawed {
        progress(format!("counterexample for {flaw}"));
        let graph = StateGraph::explore_until(&flawed, 5_000_000, true, |_| {})?;
        let trace = generate::counterexample(&flawed, &graph)
            .with_context(|| format!("flaw {flaw} breaks no claim"))?;
        traces.push((format!("flaw-{flaw}"), flawed, trace));
    }
    for seed in WALK_SEEDS {
        traces.push((
            format!("walk-seed-{seed}"),
            model.clone(),
            generate::random_walk(&model, seed, WALK_STEPS),
        ));
    }
    Ok(traces)
}

/// Writes every network trace under `out/network/`; returns how many.
pub fn generate_network_traces(out: &Path, progress: impl FnMut(String)) -> Result<usize> {
    let traces = network_traces(progress)?;
    write_traces(&out.join("network"), &traces)
}

/// Writes every storage trace under `out/storage/`; returns how many.
pub fn generate_storage_traces(out: &Path, progress: impl FnMut(String)) -> Result<usize> {
    let traces = storage_traces(progress)?;
    write_traces(&out.join("storage"), &traces)
}

/// Replaces the traces in `dir` with `traces` (ITF and narrative each).
fn write_traces<M>(dir: &Path, traces: &[(String, M, crate::Trace<M>)]) -> Result<usize>
where
    M: TracedModel,
    M::State: Clone,
    M::Action: serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Stale files of an earlier generation would otherwise linger.
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".itf.json") || name.ends_with(".md") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for (name, model, trace) in traces {
        let itf_path = dir.join(format!("{name}.itf.json"));
        std::fs::write(&itf_path, trace.to_itf(model))
            .with_context(|| format!("cannot write {}", itf_path.display()))?;
        let md_path = dir.join(format!("{name}.md"));
        std::fs::write(&md_path, crate::narrative::narrate(model, trace))
            .with_context(|| format!("cannot write {}", md_path.display()))?;
    }
    Ok(traces.len())
}

/// Replays one trace file of any model against a fresh implementation.
pub fn replay_file(path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport> {
    // A file whose model cannot be read goes to the network reader, whose
    // error then says exactly what is wrong with it.
    match trace_model(path).as_deref() {
        Some("storage") => crate::storage::replay_storage_file(path, transport, bugs),
        Some("network") | None => network::replay_network_file(path, transport, bugs),
        Some(other) => bail!("{}: no adapter for the {other:?} model", path.display()),
    }
}

/// Replays one storage trace file against another Blob service, `peer`.
pub fn replay_peer_file(path: &Path, peer: &PeerTarget) -> Result<ReplayReport> {
    match trace_model(path).as_deref() {
        Some("storage") => crate::storage::replay_storage_peer_file(path, peer),
        other => bail!(
            "{}: --peer replays storage traces only, not {}",
            path.display(),
            other.map_or("an unreadable trace".to_string(), |m| format!("{m} traces"))
        ),
    }
}

/// The model a trace file names in its `#meta`, if it can be read.
fn trace_model(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value
        .get("#meta")?
        .get("model")?
        .as_str()
        .map(str::to_string)
}

/// `fabric replay`: replays every trace file under `paths` and prints, per
/// file, how it ended, then steps matched per claim.
pub fn run_replay(paths: Vec<PathBuf>, transport: Transport, format: Format) -> Result<i32> {
    run_replays(paths, format, false, |file| {
        replay_file(file, transport, BugSet::NONE)
    })
}

/// `fabric replay --peer`: as [`run_replay`], against another Blob service;
/// a trace ended by what the peer cannot do is marked `N/A`, not `FAIL`.
pub fn run_replay_on_peer(paths: Vec<PathBuf>, peer: &PeerTarget, format: Format) -> Result<i32> {
    run_replays(paths, format, true, |file| replay_peer_file(file, peer))
}

fn run_replays(
    paths: Vec<PathBuf>,
    format: Format,
    on_peer: bool,
    mut replay_one: impl FnMut(&Path) -> Result<ReplayReport>,
) -> Result<i32> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("traces")]
    } else {
        paths
    };
    let files = collect_trace_files(&paths)
        .with_context(|| format!("cannot list trace files under {paths:?}"))?;
    if files.is_empty() {
        bail!("no .itf.json trace files under {paths:?}");
    }
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports: Vec<ReplayReport> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for file in &files {
        bar.set_message(file.display().to_string());
        match replay_one(file) {
            Ok(report) => {
                let status = match &report.verdict {
                    Verdict::Matched => format!(
                        "ok    {}/{} steps matched",
                        report.steps_matched, report.steps_total
                    ),
                    Verdict::StoppedAsExpected { step } => {
                        format!(
                            "ok    stopped at step {step} of {}, where the flaw let it through",
                            report.steps_total
                        )
                    }
                    Verdict::Mismatch(m) => format!(
                        "FAIL  step {} ({}): expected {}, observed {} [{}]",
                        m.step,
                        m.action,
                        m.expected,
                        m.observed,
                        m.claims.join(", ")
                    ),
                    Verdict::NotStopped {
                        expected_step,
                        mismatch,
                    } => format!(
                        "FAIL  the flaw's step {expected_step} was not stopped (stopped at {:?})",
                        mismatch.as_ref().map(|m| m.step)
                    ),
                };
                lines.push(format!("{}: {status}", file.display()));
                reports.push(report);
            }
            Err(e) => {
                let error = format!("{e:#}");
                let label = if on_peer && error.contains(PEER_CANNOT) {
                    "N/A "
                } else {
                    "FAIL"
                };
                lines.push(format!("{}: {label}  {error}", file.display()));
                errors.push(error);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut per_claim: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reports {
        for (claim, n) in &r.claims_matched {
            *per_claim.entry(claim.clone()).or_default() += n;
        }
    }
    let passed = errors.is_empty() && reports.iter().all(ReplayReport::passed);
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "passed": passed,
                "traces": reports,
                "errors": errors,
                "claims": per_claim,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Text => {
            for line in &lines {
                println!("{line}");
            }
            println!("\nsteps matched per claim:");
            let mut ids: Vec<&String> = per_claim.keys().collect();
            ids.sort_by_key(|id| {
                id.split_once('-')
                    .and_then(|(_, n)| n.parse::<u32>().ok())
                    .unwrap_or(0)
            });
            for id in ids {
                println!("  {id:<7} {}", per_claim[id]);
            }
            let failed = lines.iter().filter(|l| l.contains(": FAIL")).count();
            if on_peer {
                let not_applicable = lines.iter().filter(|l| l.contains(": N/A ")).count();
                println!(
                    "{} traces, {} passed, {} failed, {} not applicable to the peer",
                    lines.len(),
                    lines.len() - failed - not_applicable,
                    failed,
                    not_applicable
                );
            } else {
                println!(
                    "{} traces, {} passed, {} failed",
                    lines.len(),
                    lines.len() - failed,
                    failed
                );
            }
        }
    }
    Ok(if passed { 0 } else { 1 })
}

//! Running a parsed command line: each subcommand over the area registry.

use super::args::{Cli, Command, DemoCommand, Format, ServeCommand, TracesCommand};
use super::report::{print_flaws, run_replays};
use crate::areas::{self, Area};
use crate::check::{self, ModelReport};
use crate::replay::{PeerEndpoint, Transport};
use crate::{claims, demo};
use anyhow::{bail, Context, Result};
use fabric_impl::bugs::BugSet;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// A spinner on standard error with `message`.
pub fn spinner(message: &str) -> ProgressBar {
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
        } => run_check(&model, flaw.as_deref(), deep, format, threads),
        Command::Flaws { model, format } => {
            let rows: Vec<areas::FlawRow> = areas::select(&model)?
                .into_iter()
                .flat_map(|a| a.flaws())
                .collect();
            print_flaws(&rows, format)?;
            Ok(0)
        }
        Command::Explore {
            model,
            flaw,
            listen,
        } => run_explore(areas::area(&model)?, flaw.as_deref(), &listen),
        Command::Traces {
            action: TracesCommand::Generate { model, out },
        } => {
            for area in areas::select(&model)? {
                let name = area.name();
                let bar = spinner(&format!("generating {name} traces"));
                let generated = areas::generate_traces(&out, area, &mut |msg| bar.set_message(msg));
                bar.finish_and_clear();
                let (written, coverage) =
                    generated.with_context(|| format!("cannot generate the {name} traces"))?;
                let mut stdout = std::io::stdout();
                writeln!(
                    stdout,
                    "{name}: wrote {written} traces under {}",
                    out.join(name).display()
                )?;
                writeln!(stdout, "{coverage}")?;
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
            Some(url) => {
                let peer = PeerEndpoint {
                    url,
                    account: peer_account,
                    key_base64: peer_key,
                };
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

/// `fabric check`: every selected model, with `flaw` where it is that
/// model's.
fn run_check(
    model: &str,
    flaw: Option<&str>,
    deep: bool,
    format: Format,
    threads: Option<usize>,
) -> Result<i32> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let selected = areas::select(model)?;
    if let Some(flaw) = flaw {
        if !selected
            .iter()
            .any(|a| a.flaws().iter().any(|f| f.name == flaw))
        {
            let names: Vec<&str> = selected
                .iter()
                .flat_map(|a| a.flaws())
                .map(|f| f.name)
                .collect();
            bail!(
                "unknown flaw {flaw:?} for --model {model}; the flaws are: {}",
                names.join(", ")
            );
        }
    }
    let mut out = std::io::stdout();
    let mut reports: Vec<ModelReport> = Vec::new();
    for area in selected {
        let name = area.name();
        let bar = spinner(&format!("checking {name}"));
        let mut progress = |n: usize| bar.set_message(format!("checking {name}: {n} states"));
        let report = area.check(flaw, deep, threads, &mut progress);
        bar.finish_and_clear();
        // A flaw belongs to one model: the others are not checked with it.
        let Some(report) = report else { continue };
        if format == Format::Text {
            write!(out, "{}", check::render_text(&report))?;
        }
        reports.push(report);
    }
    if format == Format::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
    }
    let ok = reports.iter().all(ModelReport::ok);
    if format == Format::Text {
        writeln!(
            out,
            "{}",
            if ok {
                "every property holds and every allowed case is reached"
            } else {
                "some properties FAILED"
            }
        )?;
    }
    Ok(if ok { 0 } else { 1 })
}

/// `fabric explore`: stateright's explorer for one area's model.
fn run_explore(area: &dyn Area, flaw: Option<&str>, listen: &str) -> Result<i32> {
    if let Some(flaw) = flaw {
        // A wrong flaw is an error before anything listens.
        let names: Vec<&str> = area.flaws().iter().map(|f| f.name).collect();
        if !names.contains(&flaw) {
            bail!(
                "unknown flaw {flaw:?}; the {} model's flaws are: {}",
                area.name(),
                names.join(", ")
            );
        }
    }
    // stateright's explorer panics when it cannot bind: find out first.
    let probe = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = probe.local_addr()?;
    drop(probe);
    let shown = flaw.unwrap_or("none");
    let mut out = std::io::stdout();
    writeln!(
        out,
        "explorer for the {} model (flaw: {shown}) at http://{addr}/",
        area.name()
    )?;
    writeln!(out, "press Ctrl-C to stop")?;
    area.explore(flaw, addr)?;
    Ok(0)
}

/// `fabric replay`: replays every trace file under `paths` and prints, per
/// file, how it ended, then steps matched per claim.
pub fn run_replay(paths: Vec<PathBuf>, transport: Transport, format: Format) -> Result<i32> {
    run_replays(paths, format, false, |file| {
        areas::replay_file(file, transport, BugSet::NONE)
    })
}

/// `fabric replay --peer`: as [`run_replay`], against another
/// implementation; a trace ended by what the peer cannot do is marked
/// `N/A`, not `FAIL`.
pub fn run_replay_on_peer(paths: Vec<PathBuf>, peer: &PeerEndpoint, format: Format) -> Result<i32> {
    for area in areas::AREAS {
        area.prepare_peer(peer)?;
    }
    run_replays(paths, format, true, |file| {
        areas::replay_on_peer(file, peer)
    })
}

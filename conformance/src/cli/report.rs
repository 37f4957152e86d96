//! What `fabric flaws` and `fabric replay` print, as text or JSON.

use super::args::Format;
use crate::areas::FlawRow;
use crate::replay::{collect_trace_files, ReplayError, ReplayReport, Verdict};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prints the flaw table, its columns as wide as their longest entry.
pub fn print_flaws(rows: &[FlawRow], format: Format) -> Result<()> {
    let mut out = std::io::stdout();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?,
        Format::Text => {
            let breaks: Vec<String> = rows.iter().map(|f| f.breaks.join(",")).collect();
            let model_w = rows.iter().map(|f| f.model.len()).max().unwrap_or(0).max(5);
            let name_w = rows.iter().map(|f| f.name.len()).max().unwrap_or(0).max(4);
            let breaks_w = breaks.iter().map(String::len).max().unwrap_or(0).max(6);
            writeln!(
                out,
                "{:<model_w$}  {:<name_w$}  {:<breaks_w$}  WHAT IT REMOVES",
                "MODEL", "FLAW", "BREAKS"
            )?;
            for (f, breaks) in rows.iter().zip(&breaks) {
                writeln!(
                    out,
                    "{:<model_w$}  {:<name_w$}  {:<breaks_w$}  {}",
                    f.model, f.name, breaks, f.description
                )?;
            }
        }
    }
    Ok(())
}

/// How one trace file's replay ended, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Passed.
    Ok,
    /// Failed, or could not be replayed.
    Fail,
    /// Ended by something the peer cannot do.
    NotApplicable,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::Ok => "ok  ",
            Ending::Fail => "FAIL",
            Ending::NotApplicable => "N/A ",
        }
    }
}

/// One line of `fabric replay`'s text output for a report.
fn status_line(report: &ReplayReport) -> String {
    match &report.verdict {
        Verdict::Matched if report.steps_no_op > 0 => format!(
            "{}/{} steps matched ({} answered by the adapter alone, counted toward no claim)",
            report.steps_matched, report.steps_total, report.steps_no_op
        ),
        Verdict::Matched => format!(
            "{}/{} steps matched",
            report.steps_matched, report.steps_total
        ),
        Verdict::ExercisedNothing => format!(
            "exercised nothing: all {} steps were answered by the adapter alone",
            report.steps_total
        ),
        Verdict::StoppedAsExpected { step, flaw_step } if step == flaw_step => format!(
            "stopped at step {step} of {}, where the flaw departs, as the correct model does",
            report.steps_total
        ),
        Verdict::StoppedAsExpected { step, flaw_step } => format!(
            "stopped at step {step} of {}, as the correct model does; the flaw departs at step {flaw_step}, in state the implementation shows only when step {step} reads it",
            report.steps_total
        ),
        Verdict::Mismatch(m) => format!(
            "step {} ({}): expected {}, observed {} [{}]",
            m.step,
            m.action,
            m.expected,
            m.observed,
            m.claims.join(", ")
        ),
        Verdict::NotStopped {
            expected_step,
            reason,
            ..
        } => format!("the flaw's counterexample (departing at step {expected_step}) was not stopped: {reason}"),
    }
}

/// Whether `error` says the peer cannot do what a step asks.
fn peer_cannot(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<ReplayError>(),
        Some(ReplayError::Adapter { source, .. }) if source.is_peer_limit()
    )
}

/// Replays every trace file under `paths` with `replay_one` and prints how
/// each ended, then the steps matched per claim; 0 when all passed.
pub fn run_replays(
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
    let mut lines: Vec<(Ending, String)> = Vec::new();
    for file in &files {
        bar.set_message(file.display().to_string());
        match replay_one(file) {
            Ok(report) => {
                let ending = if report.passed() {
                    Ending::Ok
                } else {
                    Ending::Fail
                };
                lines.push((
                    ending,
                    format!(
                        "{}: {}  {}",
                        file.display(),
                        ending.label(),
                        status_line(&report)
                    ),
                ));
                reports.push(report);
            }
            Err(e) => {
                let ending = if on_peer && peer_cannot(&e) {
                    Ending::NotApplicable
                } else {
                    Ending::Fail
                };
                let error = format!("{e:#}");
                lines.push((
                    ending,
                    format!("{}: {}  {error}", file.display(), ending.label()),
                ));
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
            writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Text => print_summary(&lines, &per_claim, on_peer)?,
    }
    Ok(if passed { 0 } else { 1 })
}

fn print_summary(
    lines: &[(Ending, String)],
    per_claim: &BTreeMap<String, usize>,
    on_peer: bool,
) -> std::io::Result<()> {
    let mut out = std::io::stdout();
    for (_, line) in lines {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "\nsteps matched per claim:")?;
    let mut ids: Vec<&String> = per_claim.keys().collect();
    ids.sort_by_key(|id| {
        let (prefix, n) = id.split_once('-').unwrap_or((id, ""));
        (prefix.to_string(), n.parse::<u32>().unwrap_or(0))
    });
    for id in ids {
        writeln!(out, "  {id:<7} {}", per_claim[id])?;
    }
    let count = |e: Ending| lines.iter().filter(|(ending, _)| *ending == e).count();
    let (ok, failed, not_applicable) = (
        count(Ending::Ok),
        count(Ending::Fail),
        count(Ending::NotApplicable),
    );
    if on_peer {
        writeln!(
            out,
            "{} traces, {ok} passed, {failed} failed, {not_applicable} not applicable to the peer",
            lines.len()
        )
    } else {
        writeln!(out, "{} traces, {ok} passed, {failed} failed", lines.len())
    }
}

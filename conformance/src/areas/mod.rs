//! The area registry: every claim area the harness knows, behind one
//! [`Area`] trait, listed once in [`AREAS`].
//!
//! Every command (`check`, `flaws`, `explore`, `traces generate`, `replay`,
//! `claims --check`) and the trace tests iterate the registry; no area's
//! name is matched as a string anywhere else. Adding an area is one folder
//! under `areas/` with a type implementing [`Area`], and one line in
//! [`AREAS`].
//!
//! The trait is in [`area`]; most of an area's answers are the same generic
//! code over its model, in [`kit`] ([`kit::check`],
//! [`kit::model_traces`], [`kit::flaw_rows`]); an area implements the trait
//! by saying which model, config and flaws it has, and how its traces reach
//! the implementation. Areas import `area` and `kit`, never this module, so
//! the registry is the only file that names them.

pub mod area;
pub mod kit;
pub mod network;
pub mod storage;

pub use area::{Area, FlawRow, GeneratedTraces, TraceFile};

use crate::generate::CoverageCount;
use crate::replay::{PeerEndpoint, ReplayReport, Transport};
use anyhow::{Context, Result};
use fabric_impl::bugs::BugSet;
use std::path::Path;
use thiserror::Error;

/// Every area, in the order commands report them.
pub static AREAS: &[&dyn Area] = &[&network::NetworkArea, &storage::StorageArea];

/// An `--model` or `--area` value that names no area.
#[derive(Debug, Error)]
#[error("unknown model {name:?}; known: {}", known_names().join(", "))]
pub struct UnknownArea {
    /// What was asked for.
    pub name: String,
}

/// The names the registry knows, `all` first.
pub fn known_names() -> Vec<&'static str> {
    std::iter::once("all")
        .chain(AREAS.iter().map(|a| a.name()))
        .collect()
}

/// The area called `name`.
pub fn area(name: &str) -> Result<&'static dyn Area, UnknownArea> {
    AREAS
        .iter()
        .copied()
        .find(|a| a.name() == name)
        .ok_or_else(|| UnknownArea { name: name.into() })
}

/// The areas `name` selects: one, or every area for `all`.
pub fn select(name: &str) -> Result<Vec<&'static dyn Area>, UnknownArea> {
    if name == "all" {
        return Ok(AREAS.to_vec());
    }
    area(name).map(|a| vec![a])
}

/// Replaces the traces in `out/<area>/` with `files`; returns how many.
pub fn write_traces(out: &Path, area: &dyn Area, files: &[TraceFile]) -> Result<usize> {
    let dir = out.join(area.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Stale files of an earlier generation would otherwise linger.
    for entry in std::fs::read_dir(&dir)? {
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
    for file in files {
        let itf_path = dir.join(format!("{}.itf.json", file.name));
        std::fs::write(&itf_path, &file.itf)
            .with_context(|| format!("cannot write {}", itf_path.display()))?;
        let md_path = dir.join(format!("{}.md", file.name));
        std::fs::write(&md_path, &file.narrative)
            .with_context(|| format!("cannot write {}", md_path.display()))?;
    }
    Ok(files.len())
}

/// Generates and writes every trace of `area` under `out/<area>/`; returns
/// how many files were written and what the coverage traces take. Nothing
/// is written when generation fails (a reachable coverage pair left
/// untaken among them), so the committed traces stay as they were.
pub fn generate_traces(
    out: &Path,
    area: &dyn Area,
    progress: &mut dyn FnMut(String),
) -> Result<(usize, CoverageCount)> {
    let generated = area.traces(progress)?;
    let written = write_traces(out, area, &generated.files)?;
    Ok((written, generated.coverage))
}

/// Replays one trace file of any area: the area is the one its `#meta`
/// names.
pub fn replay_file(path: &Path, transport: Transport, bugs: BugSet) -> Result<ReplayReport> {
    trace_area(path)?.replay_file(path, transport, bugs)
}

/// Replays one trace file of any area against another implementation.
pub fn replay_on_peer(path: &Path, peer: &PeerEndpoint) -> Result<ReplayReport> {
    trace_area(path)?.replay_on_peer(path, peer)
}

/// The area whose model a trace file names in its `#meta`.
pub fn trace_area(path: &Path) -> Result<&'static dyn Area> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON trace file", path.display()))?;
    let model = value
        .get("#meta")
        .and_then(|m| m.get("model"))
        .and_then(|m| m.as_str())
        .with_context(|| format!("{}: #meta names no model", path.display()))?;
    area(model).with_context(|| format!("{}: no adapter for this trace", path.display()))
}

//! `fabric claims`: the traceability catalogue. `docs/claims.md` has a row per
//! claim ID of the shared `CLAIMS.md`, with five links: the model property,
//! the flaw that breaks it, the enforcement point in the implementation, the
//! conformance test that replays it, and the trace an auditor reads. The
//! check follows every link to something real.

use crate::areas::{Area, AREAS};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The claim-ID prefixes of `CLAIMS.md`, one per area of claims.
pub const CLAIM_PREFIXES: [&str; 9] = [
    "NET", "IAM", "SEC", "STO", "GEO", "DRV", "INT", "AVL", "AUD",
];

/// One row of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The claim ID.
    pub id: String,
    /// The model property's name, or `pending`.
    pub property: String,
    /// The flaw's name, or `pending`.
    pub flaw: String,
    /// `path` of the file with the `// claim:` comment, or `pending`.
    pub enforcement: String,
    /// `path::test_name`, or `pending`.
    pub test: String,
    /// Path of the trace file, or `pending`.
    pub trace: String,
}

fn cell(s: &str) -> String {
    s.trim().trim_matches('`').trim().to_string()
}

/// Parses the catalogue's table rows (lines starting with `| ID |`).
pub fn parse_catalogue(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .collect();
            if cells.len() != 6 {
                return None;
            }
            let id = cell(cells[0]);
            let looks_like_id = id.split_once('-').is_some_and(|(a, n)| {
                a.chars().all(|c| c.is_ascii_uppercase()) && n.parse::<u8>().is_ok()
            });
            looks_like_id.then(|| Row {
                id,
                property: cell(cells[1]),
                flaw: cell(cells[2]),
                enforcement: cell(cells[3]),
                test: cell(cells[4]),
                trace: cell(cells[5]),
            })
        })
        .collect()
}

/// Claim IDs listed in the shared `CLAIMS.md` (kind P aside, which has none).
pub fn shared_ids(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let first = line.trim().strip_prefix('|')?.split('|').next()?.trim();
            let (area, n) = first.split_once('-')?;
            (area.len() == 3
                && area.chars().all(|c| c.is_ascii_uppercase())
                && n.parse::<u8>().is_ok())
            .then(|| first.to_string())
        })
        .collect()
}

/// The areas whose models have a property for claim `id` (a claim may be
/// checked by more than one: DRV-1 by storage and by drives).
pub fn checked_by(id: &str) -> Vec<&'static str> {
    AREAS
        .iter()
        .filter(|a| a.properties().iter().any(|(claim, _)| claim == id))
        .map(|a| a.name())
        .collect()
}

/// What is wrong with one row's links, checked against the project at `root`.
pub fn problems(root: &Path, row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    let links = [
        &row.property,
        &row.flaw,
        &row.enforcement,
        &row.test,
        &row.trace,
    ];
    if links
        .iter()
        .any(|l| l.is_empty() || l.eq_ignore_ascii_case("pending"))
    {
        out.push("has pending or empty links".to_string());
        return out;
    }
    let is_id = row.id.split_once('-').is_some_and(|(prefix, n)| {
        CLAIM_PREFIXES.contains(&prefix) && n.parse::<u8>().is_ok_and(|n| n >= 1)
    });
    if !is_id {
        return vec!["is not a claim ID".into()];
    }
    // Which models state the claim: every area with a property named by it
    // (a claim may be checked by more than one area's model).
    let checking: Vec<&dyn Area> = AREAS
        .iter()
        .copied()
        .filter(|a| a.properties().iter().any(|(claim, _)| *claim == row.id))
        .collect();
    if checking.is_empty() {
        out.push(format!("no model has a property for {}", row.id));
        return out;
    }
    let property_names: Vec<&str> = checking
        .iter()
        .flat_map(|a| a.properties())
        .filter(|(claim, _)| *claim == row.id)
        .map(|(_, name)| name)
        .collect();
    let model_name = checking
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(" or ");
    let flaw_breaks = checking
        .iter()
        .flat_map(|a| a.flaws())
        .find(|f| f.name == row.flaw)
        .map(|f| f.breaks.contains(&row.id));
    if !property_names.contains(&row.property.as_str()) {
        out.push(format!(
            "property {:?} is not a property of the {model_name} model for {}",
            row.property, row.id
        ));
    }
    match flaw_breaks {
        Some(true) => {}
        Some(false) => out.push(format!("flaw {} does not break {}", row.flaw, row.id)),
        None => out.push(format!("flaw {} does not exist", row.flaw)),
    }
    let file_has_word = |path: &str, word: &str| -> Result<bool, String> {
        let text = std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
        Ok(text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == word))
    };
    match std::fs::read_to_string(root.join(&row.enforcement)) {
        Ok(text) => {
            let annotated = text.lines().any(|l| {
                l.contains("// claim:")
                    && l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                        .any(|w| w == row.id)
            });
            if !annotated {
                out.push(format!(
                    "{} has no `// claim: {}` comment",
                    row.enforcement, row.id
                ));
            }
        }
        Err(e) => out.push(format!("enforcement point {}: {e}", row.enforcement)),
    }
    match row.test.split_once("::") {
        // Tests may be written out or made by a macro: look for the name as a word.
        Some((path, name)) => match file_has_word(path, name) {
            Ok(true) => {}
            Ok(false) => out.push(format!("{path} has no test fn {name}")),
            Err(e) => out.push(format!("conformance test: {e}")),
        },
        None => out.push(format!("test {:?} is not `path::name`", row.test)),
    }
    match std::fs::read_to_string(root.join(&row.trace)) {
        Ok(text) => {
            let claims_line = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("#meta")?.get("claims")?.as_str().map(str::to_string))
                .unwrap_or_default();
            if !claims_line.split(',').any(|c| c == row.id) {
                out.push(format!("trace {} does not exercise {}", row.trace, row.id));
            }
        }
        Err(e) => out.push(format!("trace {}: {e}", row.trace)),
    }
    out
}

/// Finds the project root: the nearest ancestor of the current directory
/// that holds `catalogue`.
fn project_root(catalogue: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    for dir in cwd.ancestors() {
        if dir.join(catalogue).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "cannot find {} here or above {}",
        catalogue.display(),
        cwd.display()
    )
}

/// `fabric claims [--check] [--area A]`.
pub fn run_cli(catalogue: &Path, shared: &Path, area: Option<&str>, check: bool) -> Result<i32> {
    let root = project_root(catalogue)?;
    let text = std::fs::read_to_string(root.join(catalogue))
        .with_context(|| format!("cannot read {}", catalogue.display()))?;
    let rows = parse_catalogue(&text);
    let mut out = std::io::stdout();
    let in_area = |id: &str| area.is_none_or(|a| id.starts_with(&format!("{a}-")));
    let mut failures = 0usize;
    let shared_path = root.join(shared);
    if let Ok(shared_text) = std::fs::read_to_string(&shared_path) {
        let listed: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for id in shared_ids(&shared_text).iter().filter(|id| in_area(id)) {
            if !listed.contains(id.as_str()) {
                writeln!(out, "{id:<7} MISSING from {}", catalogue.display())?;
                failures += 1;
            }
        }
    } else if check {
        eprintln!(
            "note: {} not found; checking the catalogue's own rows only",
            shared_path.display()
        );
    }
    for row in rows.iter().filter(|r| in_area(&r.id)) {
        let found = problems(&root, row);
        if found.is_empty() {
            let models = checked_by(&row.id).join("+");
            writeln!(out, "{:<7} ok       {models:<16} {}", row.id, row.property)?;
        } else if row.property.eq_ignore_ascii_case("pending") && !check {
            writeln!(out, "{:<7} pending", row.id)?;
        } else {
            failures += 1;
            writeln!(out, "{:<7} FAILS    {}", row.id, found.join("; "))?;
        }
    }
    if check && failures > 0 {
        writeln!(out, "{failures} claim(s) not fully traceable")?;
        return Ok(1);
    }
    Ok(0)
}

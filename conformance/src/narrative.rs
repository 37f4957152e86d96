//! A trace as a Markdown narrative: one numbered plain line per step with the
//! claim IDs it touches, for an auditor reading a pull request.

use crate::itf::Trace;
use fabric_model::trace::TracedModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Write;

/// The narrative of `trace`.
pub fn narrate<M: TracedModel>(model: &M, trace: &Trace<M>) -> String
where
    M::Action: Serialize + DeserializeOwned + Clone,
    M::State: Clone,
{
    let m = &trace.meta;
    let mut out = String::new();
    let _ = writeln!(out, "# {}", m.description);
    let _ = writeln!(out);
    let _ = writeln!(out, "- model: `{}` with `{}`", m.model, m.bounds);
    let _ = writeln!(out, "- flaw: {}", m.flaw.as_deref().unwrap_or("none"));
    let generator = match m.seed {
        Some(seed) => format!("{} (seed {seed})", m.generator),
        None => m.generator.clone(),
    };
    let _ = writeln!(out, "- generator: {generator}");
    let claims = crate::itf::claims_in_order(&m.claims);
    let _ = writeln!(
        out,
        "- claims: {}",
        if claims.is_empty() {
            "none".into()
        } else {
            claims.join(", ")
        }
    );
    let _ = writeln!(out);
    for (i, step) in trace.steps.iter().enumerate() {
        let line = model.narrate(trace.before(i), &step.action, &step.outcome);
        let ids: Vec<String> = step.claims.iter().map(|c| c.to_string()).collect();
        let tag = if ids.is_empty() {
            String::new()
        } else {
            format!(" [{}]", ids.join(", "))
        };
        let before = M::broken_claims(trace.before(i));
        let broken: Vec<String> = M::broken_claims(&step.after)
            .iter()
            .filter(|c| !before.contains(*c))
            .map(|c| c.to_string())
            .collect();
        let verdict = if broken.is_empty() {
            String::new()
        } else {
            format!(" **breaks {}**", broken.join(", "))
        };
        let _ = writeln!(out, "{}. {line}.{tag}{verdict}", i + 1);
    }
    out
}

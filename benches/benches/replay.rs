//! Replay: steps per second in process and over the wire (control plane over
//! real TLS on loopback), over every committed coverage trace and random walk.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fabric_conformance::areas::network::replay_network_trace;
use fabric_conformance::itf::{read_trace, RawTrace};
use fabric_conformance::replay::Transport;
use fabric_conformance::replay::{collect_trace_files, Verdict};
use fabric_impl::bugs::BugSet;
use fabric_model::network::{Action, Outcome};
use std::path::PathBuf;

fn traces() -> Vec<RawTrace<Action, Outcome>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces/network");
    collect_trace_files(&[dir])
        .expect("traces folder")
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("flaw-"))
        })
        .map(|p| read_trace(&p).expect("trace parses"))
        .collect()
}

fn replay_all(traces: &[RawTrace<Action, Outcome>], transport: Transport) -> usize {
    let mut steps = 0;
    for t in traces {
        let report = replay_network_trace(t, transport, BugSet::NONE).expect("replays");
        assert_eq!(report.verdict, Verdict::Matched);
        steps += report.steps_matched;
    }
    steps
}

fn replay(c: &mut Criterion) {
    let traces = traces();
    let steps: usize = traces.iter().map(|t| t.steps.len()).sum();
    let mut group = c.benchmark_group("replay-network");
    group.throughput(Throughput::Elements(steps as u64));
    group.sample_size(20);
    group.bench_function("in-process", |b| {
        b.iter(|| replay_all(&traces, Transport::Inproc))
    });
    group.sample_size(10);
    group.bench_function("wire", |b| b.iter(|| replay_all(&traces, Transport::Wire)));
    group.finish();
}

mod group {
    //! criterion's generated entry point, which carries no docs.
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, replay);
}
criterion_main!(group::benches);

//! Model exploration: distinct states per second for stateright's
//! depth-first checker and for the harness's breadth-first graph builder (its
//! peer in the same run), and bytes per state of the explored graph.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fabric_conformance::graph::StateGraph;
use fabric_model::network::NetworkConfig;
use stateright::{Checker, Model};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak, to report bytes per state.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn unique_states() -> usize {
    NetworkConfig::default()
        .into_model()
        .checker()
        .spawn_dfs()
        .join()
        .unique_state_count()
}

fn bytes_per_state() {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let model = NetworkConfig::default().into_model();
    let graph = StateGraph::explore(&model, 5_000_000, |_| {}).expect("within bounds");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let held = LIVE.load(Ordering::Relaxed) - before;
    let n = graph.state_count();
    println!(
        "network graph: {n} states, {} edges; peak {:.0} bytes/state, held {:.0} bytes/state",
        graph.graph.edge_count(),
        peak as f64 / n as f64,
        held as f64 / n as f64
    );
    drop(graph);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let checker = NetworkConfig::default()
        .into_model()
        .checker()
        .spawn_dfs()
        .join();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "network stateright dfs: {} states; peak {:.0} bytes/state",
        checker.unique_state_count(),
        peak as f64 / checker.unique_state_count() as f64
    );
}

fn exploration(c: &mut Criterion) {
    bytes_per_state();
    let states = unique_states() as u64;
    let mut group = c.benchmark_group("explore-network");
    group.sample_size(10);
    group.throughput(Throughput::Elements(states));
    group.bench_function("stateright-dfs-1-thread", |b| {
        b.iter(|| {
            NetworkConfig::default()
                .into_model()
                .checker()
                .spawn_dfs()
                .join()
                .unique_state_count()
        })
    });
    group.bench_function("stateright-dfs-2-threads", |b| {
        b.iter(|| {
            NetworkConfig::default()
                .into_model()
                .checker()
                .threads(2)
                .spawn_dfs()
                .join()
                .unique_state_count()
        })
    });
    group.bench_function("petgraph-bfs", |b| {
        let model = NetworkConfig::default().into_model();
        b.iter(|| {
            StateGraph::explore(&model, 5_000_000, |_| {})
                .expect("within bounds")
                .state_count()
        })
    });
    group.finish();
}

mod group {
    //! criterion's generated entry point, which carries no docs.
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, exploration);
}
criterion_main!(group::benches);

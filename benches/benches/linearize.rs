//! Linearizability checking: operations per second for the checker on a
//! simulated 10,000-operation history (8 clients, 4 keys), against peers in
//! the same run: the same history without memoization, a tenth of it, a
//! history with a seeded stale read, and one hot key under 16 clients.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fabric_conformance::linearize::{
    check, check_with_options, simulate, CheckOptions, History, Linearizability,
};

fn history(seed: u64, clients: u32, keys: u32, ops: usize, stale_reads: bool) -> History {
    History::new(simulate(seed, clients, keys, ops, stale_reads))
        .expect("simulated histories are valid")
}

fn linearize(c: &mut Criterion) {
    let no_memo = CheckOptions {
        memoize: false,
        ..CheckOptions::default()
    };
    let cases = [
        ("8-clients-4-keys", history(1, 8, 4, 10_000, false), true),
        ("8-clients-4-keys", history(1, 8, 4, 1_000, false), true),
        (
            "8-clients-4-keys-stale",
            history(1, 8, 4, 10_000, true),
            false,
        ),
        ("16-clients-1-key", history(1, 16, 1, 10_000, false), true),
    ];
    let mut group = c.benchmark_group("linearize");
    for (name, h, linearizable) in &cases {
        let ops = h.events().len();
        assert_eq!(
            check(h) == Linearizability::Linearizable,
            *linearizable,
            "{name}/{ops}"
        );
        group.throughput(Throughput::Elements(ops as u64));
        group.bench_with_input(BenchmarkId::new(format!("{name}/memo"), ops), h, |b, h| {
            b.iter(|| check(h))
        });
    }
    let (name, h, _) = &cases[0];
    assert_eq!(
        check_with_options(h, &no_memo),
        Linearizability::Linearizable
    );
    group.throughput(Throughput::Elements(h.events().len() as u64));
    group.bench_with_input(
        BenchmarkId::new(format!("{name}/no-memo"), h.events().len()),
        h,
        |b, h| b.iter(|| check_with_options(h, &no_memo)),
    );
    group.finish();
}

mod group {
    //! criterion's generated entry point, which carries no docs.
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(benches, linearize);
}
criterion_main!(group::benches);

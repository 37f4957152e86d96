use super::register::{Effect, State, ABSENT};
use super::simulate::SplitMix64;
use super::*;

fn ev(client: u32, key: &str, op: Op, t: (u64, u64), result: OpResult) -> Event {
    Event {
        client,
        key: key.to_owned(),
        op,
        invoked_ns: t.0,
        returned_ns: t.1,
        result,
    }
}

fn put(client: u32, value: u64, t: (u64, u64), o: Outcome) -> Event {
    ev(client, "k", Op::Put { value }, t, OpResult::Put(o))
}

fn get(client: u32, t: (u64, u64), v: Option<u64>) -> Event {
    ev(client, "k", Op::Get, t, OpResult::Get(v))
}

fn del(client: u32, t: (u64, u64), o: Outcome) -> Event {
    ev(client, "k", Op::Delete, t, OpResult::Delete(o))
}

/// `events` as a history; an invalid one fails the test (never an empty
/// history in its place, which would pass).
fn valid(events: Vec<Event>) -> History {
    History::new(events).unwrap_or_else(|e| panic!("invalid history: {e}"))
}

fn verdict(events: Vec<Event>) -> Linearizability {
    check(&valid(events))
}

fn violation(events: Vec<Event>) -> Violation {
    match verdict(events) {
        Linearizability::Violation(v) => *v,
        other => panic!("expected a violation, got {other}"),
    }
}

#[test]
fn sequential_put_then_get_is_linearizable() {
    let h = vec![
        put(1, 7, (0, 10), Outcome::Ok),
        get(2, (20, 30), Some(7)),
        del(1, (40, 50), Outcome::Ok),
        get(2, (60, 70), None),
        del(2, (80, 90), Outcome::NotFound),
    ];
    assert_eq!(verdict(h), Linearizability::Linearizable);
}

#[test]
fn concurrent_put_and_get_may_return_either_value() {
    for seen in [Some(1), Some(2)] {
        let h = vec![
            put(1, 1, (0, 10), Outcome::Ok),
            put(1, 2, (20, 60), Outcome::Ok),
            get(2, (30, 40), seen),
        ];
        assert_eq!(
            verdict(h),
            Linearizability::Linearizable,
            "get returned {seen:?}"
        );
    }
}

#[test]
fn get_after_acknowledged_delete_is_a_violation() {
    let v = violation(vec![
        put(1, 5, (0, 10), Outcome::Ok),
        del(1, (20, 30), Outcome::Ok),
        get(2, (40, 50), Some(5)),
    ]);
    assert_eq!(v.key, "k");
    assert_eq!(v.event.op, Op::Get);
    assert_eq!(v.overwritten_by.as_ref().map(|w| w.op), Some(Op::Delete));
    let text = v.to_string();
    assert!(text.contains("key \"k\""), "{text}");
    assert!(text.contains("delete by client 1 at [20, 30]"), "{text}");
}

#[test]
fn read_of_a_value_never_written_is_a_violation() {
    let v = violation(vec![
        put(1, 5, (0, 10), Outcome::Ok),
        get(2, (20, 30), Some(6)),
    ]);
    assert_eq!(v.event.result, OpResult::Get(Some(6)));
    assert!(v.observed_writers.is_empty());
    assert!(v.to_string().contains("6 was never written"), "{v}");
}

#[test]
fn indeterminate_put_that_shows_up_later_is_linearizable() {
    let h = vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 30), Outcome::Indeterminate),
        get(2, (40, 50), Some(1)),
        get(2, (60, 70), Some(2)),
        get(3, (80, 90), Some(2)),
    ];
    assert_eq!(verdict(h), Linearizability::Linearizable);
}

#[test]
fn indeterminate_put_that_never_shows_up_is_linearizable() {
    let h = vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 30), Outcome::Indeterminate),
        get(2, (40, 50), Some(1)),
        get(2, (1_000, 1_010), Some(1)),
    ];
    assert_eq!(verdict(h), Linearizability::Linearizable);
}

#[test]
fn indeterminate_put_cannot_take_effect_before_its_invocation() {
    let v = violation(vec![
        get(2, (0, 10), Some(2)),
        put(1, 2, (20, 30), Outcome::Indeterminate),
    ]);
    assert_eq!(v.event.client, 2);
}

#[test]
fn indeterminate_put_takes_effect_once() {
    // 2 shows up, is overwritten by 3, and cannot come back.
    let v = violation(vec![
        put(1, 2, (0, 10), Outcome::Indeterminate),
        get(2, (20, 30), Some(2)),
        put(3, 3, (40, 50), Outcome::Ok),
        get(2, (60, 70), Some(2)),
    ]);
    assert_eq!(v.event.invoked_ns, 60);
}

#[test]
fn new_then_old_stale_read_is_a_violation() {
    // Put 2 is concurrent with both reads, but once client 2 saw 2,
    // client 3 reading afterwards cannot see 1.
    let v = violation(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 100), Outcome::Ok),
        get(2, (30, 40), Some(2)),
        get(3, (50, 60), Some(1)),
    ]);
    assert_eq!(v.event.client, 3);
    assert_eq!(v.possible, vec![Held::Value(2)]);
    assert!(v.to_string().contains("1 was written by put 1"), "{v}");
}

#[test]
fn lost_acknowledged_write_is_a_violation() {
    let v = violation(vec![
        put(1, 9, (0, 10), Outcome::Ok),
        get(2, (20, 30), None),
    ]);
    assert_eq!(v.event.result, OpResult::Get(None));
    assert_eq!(
        v.overwritten_by.as_ref().map(|w| w.op),
        Some(Op::Put { value: 9 })
    );
    assert!(v.to_string().contains("put 9 by client 1"), "{v}");
    // Found by the search when the write is concurrent with the read,
    // but an earlier read saw it.
    let v = violation(vec![
        put(1, 9, (0, 25), Outcome::Ok),
        get(3, (5, 15), Some(9)),
        get(2, (20, 40), None),
    ]);
    assert_eq!(v.event.client, 2);
    assert_eq!(v.possible, vec![Held::Value(9)]);
}

#[test]
fn delete_not_found_must_be_consistent() {
    let v = violation(vec![
        put(1, 9, (0, 10), Outcome::Ok),
        del(2, (20, 30), Outcome::NotFound),
    ]);
    assert_eq!(v.event.op, Op::Delete);
    let v = violation(vec![del(2, (20, 30), Outcome::Ok)]);
    assert_eq!(v.possible, vec![Held::Absent]);
}

#[test]
fn refused_writes_have_no_effect() {
    let v = violation(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 30), Outcome::Refused),
        get(2, (40, 50), Some(2)),
    ]);
    assert!(v.observed_writers.is_empty());
    let h = vec![
        put(1, 1, (0, 10), Outcome::Ok),
        del(1, (20, 30), Outcome::Refused),
        get(2, (40, 50), Some(1)),
    ];
    assert_eq!(verdict(h), Linearizability::Linearizable);
}

#[test]
fn keys_are_checked_independently() {
    let h = vec![
        ev(
            1,
            "a",
            Op::Put { value: 1 },
            (0, 10),
            OpResult::Put(Outcome::Ok),
        ),
        ev(2, "b", Op::Get, (20, 30), OpResult::Get(None)),
        ev(2, "a", Op::Get, (20, 30), OpResult::Get(Some(1))),
        ev(3, "b", Op::Get, (40, 50), OpResult::Get(Some(1))),
    ];
    let v = violation(h);
    assert_eq!(v.key, "b");
}

#[test]
fn invalid_events_are_rejected() {
    assert_eq!(
        History::new(vec![get(1, (10, 5), None)]),
        Err(HistoryError::ReturnBeforeInvoke {
            index: 0,
            invoked_ns: 10,
            returned_ns: 5
        })
    );
    let mismatched = ev(1, "k", Op::Get, (0, 1), OpResult::Put(Outcome::Ok));
    assert!(matches!(
        History::new(vec![get(1, (0, 1), None), mismatched]),
        Err(HistoryError::ResultMismatch { index: 1, .. })
    ));
    let put_not_found = put(1, 1, (0, 1), Outcome::NotFound);
    assert!(History::new(vec![put_not_found]).is_err());
}

#[test]
fn empty_and_degenerate_histories_do_not_panic() {
    assert_eq!(verdict(Vec::new()), Linearizability::Linearizable);
    assert_eq!(
        verdict(vec![get(1, (5, 5), None)]),
        Linearizability::Linearizable
    );
    let far = vec![
        put(1, 1, (u64::MAX - 1, u64::MAX), Outcome::Ok),
        put(2, 2, (0, u64::MAX), Outcome::Indeterminate),
        get(3, (u64::MAX, u64::MAX), Some(1)),
    ];
    assert_eq!(verdict(far), Linearizability::Linearizable);
    assert!(simulate(1, 0, 4, 100, false).is_empty());
    assert!(simulate(1, 4, 0, 100, false).is_empty());
}

#[test]
fn an_exhausted_budget_is_unknown() {
    let h = valid(simulate(3, 8, 1, 500, false));
    assert_eq!(
        check_with_budget(&h, 10),
        Linearizability::Unknown {
            key: "blob-0".to_owned()
        }
    );
}

#[test]
fn simulated_histories_are_linearizable() {
    for seed in 1..=5 {
        let events = simulate(seed, 8, 4, 10_000, false);
        assert_eq!(events.len(), 10_000);
        let h = valid(events);
        assert_eq!(check(&h), Linearizability::Linearizable, "seed {seed}");
    }
}

#[test]
fn simulated_stale_reads_are_violations() {
    for seed in 1..=5 {
        let h = valid(simulate(seed, 8, 4, 10_000, true));
        match check(&h) {
            Linearizability::Violation(v) => assert_eq!(v.event.op, Op::Get, "seed {seed}: {v}"),
            other => panic!("seed {seed}: expected a violation, got {other}"),
        }
    }
}

/// An independent oracle for tiny histories: tries every order of every
/// subset of the indeterminate operations with all definite ones.
fn brute_force(events: &[Event]) -> bool {
    let ops: Vec<(u64, u64, Effect, bool)> = {
        let refs: Vec<&Event> = events.iter().collect();
        KeyRegister::new(&refs)
            .ops
            .iter()
            .map(|o| (o.invoked, o.returned, o.effect, o.optional))
            .collect()
    };
    fn go(ops: &[(u64, u64, Effect, bool)], used: &mut Vec<bool>, state: State) -> bool {
        if ops.iter().zip(used.iter()).all(|(o, &u)| u || o.3) {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            // Every op that must precede i has been placed, or is
            // optional and left out for good (then i may still go).
            let blocked = (0..ops.len()).any(|j| !used[j] && !ops[j].3 && ops[j].1 < ops[i].0);
            if blocked {
                continue;
            }
            if let Some(s) = ops[i].2.apply(state) {
                used[i] = true;
                let ok = go(ops, used, s);
                used[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(&ops, &mut vec![false; ops.len()], ABSENT)
}

#[test]
fn agrees_with_brute_force_on_small_random_histories() {
    let mut rng = SplitMix64(42);
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3_000 {
        let n = 1 + rng.below(6) as usize;
        let events: Vec<Event> = (0..n)
            .map(|_| {
                let a = rng.below(50);
                let t = (a, a + rng.below(30));
                let c = rng.below(3) as u32;
                let outcome = match rng.below(6) {
                    0 => Outcome::Indeterminate,
                    1 => Outcome::Refused,
                    _ => Outcome::Ok,
                };
                match rng.below(3) {
                    0 => put(c, 1 + rng.below(3), t, outcome),
                    1 => get(
                        c,
                        t,
                        [None, Some(1), Some(2), Some(3)][rng.below(4) as usize],
                    ),
                    _ => del(
                        c,
                        t,
                        if rng.below(3) == 0 {
                            Outcome::NotFound
                        } else {
                            outcome
                        },
                    ),
                }
            })
            .collect();
        let expected = brute_force(&events);
        let h = valid(events);
        for memoize in [true, false] {
            let options = CheckOptions {
                memoize,
                ..CheckOptions::default()
            };
            let got = check_with_options(&h, &options);
            assert_eq!(
                got == Linearizability::Linearizable,
                expected,
                "memoize {memoize}: {got} for {:#?}",
                h.events()
            );
            assert!(!matches!(got, Linearizability::Unknown { .. }));
        }
        if expected {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert!(yes > 300 && no > 300, "{yes} linearizable, {no} not");
}

#[test]
fn stats_count_results_and_overlap() {
    let h = valid(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        // Overlaps the put (the window [5, 15] begins before it ends).
        get(2, (5, 15), Some(1)),
        // Touches the get's end only: not concurrent.
        put(1, 2, (15, 20), Outcome::Indeterminate),
        put(1, 3, (30, 40), Outcome::Refused),
        del(1, (50, 60), Outcome::Ok),
        del(1, (70, 80), Outcome::NotFound),
        get(2, (90, 95), None),
        // Another key, overlapping in time but not on its key.
        ev(3, "other", Op::Get, (91, 92), OpResult::Get(None)),
    ]);
    let s = stats(&h);
    assert_eq!(
        s,
        HistoryStats {
            events: 8,
            keys: 2,
            puts_acknowledged: 1,
            puts_refused: 1,
            deletes_acknowledged: 1,
            deletes_not_found: 1,
            deletes_refused: 0,
            reads_of_a_value: 1,
            reads_of_absence: 2,
            indeterminate: 1,
            concurrent: 2,
            max_in_flight: 2,
        }
    );
    let text = s.to_string();
    assert!(text.contains("1 puts acknowledged"), "{text}");
    assert!(text.contains("2 concurrent"), "{text}");
}

#[test]
fn an_empty_or_thin_history_does_not_meet_its_minimums() {
    let min = Minimums {
        events: 1,
        puts_acknowledged: 1,
        reads_of_a_value: 1,
        concurrent: 2,
        max_indeterminate: 0,
    };
    // Linearizable, and yet it shows nothing.
    let empty = valid(Vec::new());
    assert_eq!(check(&empty), Linearizability::Linearizable);
    let thin = stats(&empty)
        .meets(&min)
        .expect_err("an empty history is too thin");
    assert_eq!(thin.shortfalls.len(), 4, "{thin}");
    assert!(
        thin.to_string().contains("0 events, fewer than 1"),
        "{thin}"
    );
    // Sequential, and with an indeterminate put: too little overlap, too
    // much unknown.
    let sequential = valid(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        get(2, (20, 30), Some(1)),
        put(1, 2, (40, 50), Outcome::Indeterminate),
    ]);
    let thin = stats(&sequential).meets(&min).expect_err("too thin");
    assert_eq!(
        thin.shortfalls,
        vec![
            "0 operations concurrent with another on their key, fewer than 2".to_owned(),
            "1 indeterminate operations, more than 0".to_owned(),
        ]
    );
    let concurrent = valid(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        get(2, (5, 30), Some(1)),
    ]);
    assert_eq!(stats(&concurrent).meets(&min), Ok(()));
}

#[test]
fn a_read_of_an_overwritten_value_is_a_stale_read() {
    let v = violation(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 30), Outcome::Ok),
        get(2, (40, 50), Some(1)),
    ]);
    let stale = v.stale_read().expect("a stale read");
    assert_eq!(stale.returned, Some(1));
    assert_eq!(stale.read.invoked_ns, 40);
    assert_eq!(
        stale.overwritten_by.map(|w| w.op),
        Some(Op::Put { value: 2 })
    );
    // Absence read after an acknowledged put, by a get or by a delete that
    // found nothing; a value read after an acknowledged delete.
    let v = violation(vec![
        put(1, 9, (0, 10), Outcome::Ok),
        get(2, (20, 30), None),
    ]);
    assert_eq!(v.stale_read().map(|s| s.returned), Some(None));
    let v = violation(vec![
        put(1, 9, (0, 10), Outcome::Ok),
        del(2, (20, 30), Outcome::NotFound),
    ]);
    assert_eq!(v.stale_read().map(|s| s.read.op), Some(Op::Delete));
    let v = violation(vec![
        put(1, 5, (0, 10), Outcome::Ok),
        del(1, (20, 30), Outcome::Ok),
        get(2, (40, 50), Some(5)),
    ]);
    assert_eq!(
        v.stale_read().and_then(|s| s.overwritten_by).map(|w| w.op),
        Some(Op::Delete)
    );
    // Found by the search: new, then old, with no single overwriting write.
    let v = violation(vec![
        put(1, 1, (0, 10), Outcome::Ok),
        put(1, 2, (20, 100), Outcome::Ok),
        get(2, (30, 40), Some(2)),
        get(3, (50, 60), Some(1)),
    ]);
    let stale = v.stale_read().expect("a stale read the search found");
    assert_eq!((stale.returned, stale.overwritten_by), (Some(1), None));
    // Not stale reads: a value never written, or written only after the
    // read returned; an acknowledged delete of a blob never written.
    for events in [
        vec![put(1, 5, (0, 10), Outcome::Ok), get(2, (20, 30), Some(6))],
        vec![
            get(2, (0, 10), Some(2)),
            put(1, 2, (20, 30), Outcome::Indeterminate),
        ],
        vec![del(2, (20, 30), Outcome::Ok)],
    ] {
        let v = violation(events);
        assert_eq!(v.stale_read(), None, "{v}");
    }
}

#[test]
fn a_stale_read_on_any_key_is_reported_before_a_violation_only_the_search_finds() {
    let h = vec![
        // Key "a": only the search can tell (new, then old).
        ev(
            1,
            "a",
            Op::Put { value: 1 },
            (0, 10),
            OpResult::Put(Outcome::Ok),
        ),
        ev(
            1,
            "a",
            Op::Put { value: 2 },
            (20, 100),
            OpResult::Put(Outcome::Ok),
        ),
        ev(2, "a", Op::Get, (30, 40), OpResult::Get(Some(2))),
        ev(3, "a", Op::Get, (50, 60), OpResult::Get(Some(1))),
        // Key "b": a plain stale read.
        ev(
            1,
            "b",
            Op::Put { value: 7 },
            (0, 10),
            OpResult::Put(Outcome::Ok),
        ),
        ev(
            1,
            "b",
            Op::Put { value: 8 },
            (20, 30),
            OpResult::Put(Outcome::Ok),
        ),
        ev(2, "b", Op::Get, (40, 50), OpResult::Get(Some(7))),
    ];
    let v = violation(h.clone());
    assert_eq!(v.key, "b");
    assert!(
        v.stale_read().and_then(|s| s.overwritten_by).is_some(),
        "{v}"
    );
    // Without key "b", key "a" is still a violation.
    let only_a: Vec<Event> = h.into_iter().filter(|e| e.key == "a").collect();
    assert_eq!(violation(only_a).key, "a");
}

//! Tests of the replicated store, over storage's tables.

use super::*;
#[cfg(feature = "seeded-bugs")]
use crate::bugs::SeededBug;
use crate::storage::store::Table;
use redb::ReadableDatabase;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tempfile::TempDir;

/// The test state machine: puts and deletes in the data table, each
/// answering the previous value.
#[derive(Debug)]
enum Op {
    Put(String, Vec<u8>),
    Delete(String),
    /// Writes, then fails: nothing of it may be committed.
    Fail(String),
    /// Answers a counter shared by the replicas: not deterministic.
    Nondeterministic(Arc<AtomicU64>),
}

impl Command for Op {
    type Output = Option<Vec<u8>>;
    type Table = Table;

    fn apply(
        &self,
        _replica: usize,
        tables: &mut dyn TablesMut<Table>,
    ) -> Result<Self::Output, StoreError> {
        match self {
            Op::Put(key, value) => {
                let previous = tables.get(Table::Data, key)?;
                tables.put(Table::Data, key, value)?;
                Ok(previous)
            }
            Op::Delete(key) => {
                let previous = tables.get(Table::Data, key)?;
                tables.delete(Table::Data, key)?;
                Ok(previous)
            }
            Op::Fail(key) => {
                tables.put(Table::Data, key, b"partial")?;
                Err(StoreError::Corrupt(format!("refused {key}")))
            }
            Op::Nondeterministic(counter) => {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                Ok(Some(n.to_be_bytes().to_vec()))
            }
        }
    }
}

fn put(key: &str, value: &[u8]) -> Op {
    Op::Put(key.to_owned(), value.to_vec())
}

fn config(root: &TempDir) -> StoreConfig {
    StoreConfig::new(std::array::from_fn(|r| root.path().join(format!("r{r}"))))
}

fn open(config: StoreConfig) -> ReplicatedStore<Op> {
    ReplicatedStore::open(config).expect("the store opens")
}

fn get_from(
    store: &ReplicatedStore<Op>,
    replica: usize,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    store.read_from(replica, |t| t.get(Table::Data, key))
}

fn some(value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(Some(value.to_vec()))
}

fn file_of(store: &ReplicatedStore<Op>, replica: usize) -> PathBuf {
    store.status()[replica].dir.join(DB_FILE)
}

/// Polls `future` once, without a runtime's waker.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `check` until it holds, for at most five seconds.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    check()
}

#[tokio::test]
async fn acknowledged_write_is_in_every_replica() {
    let root = TempDir::new().expect("temp dir");
    let store = open(config(&root));
    assert_eq!(store.write(put("a", b"1")).await, Ok(None));
    assert_eq!(store.write(put("a", b"2")).await, some(b"1"));
    for r in 0..3 {
        assert_eq!(get_from(&store, r, "a"), some(b"2"), "replica {r}");
    }
    let status = store.status();
    assert!(
        status.iter().all(|s| s.up && s.applied_seq == 2),
        "{status:?}"
    );
    assert_eq!(store.read(|t| t.get(Table::Data, "a")), some(b"2"));
    assert_eq!(store.read(|t| t.get(Table::Blobs, "a")), Ok(None));

    // In the files themselves, once the store is closed.
    let files: Vec<PathBuf> = (0..3).map(|r| file_of(&store, r)).collect();
    drop(store);
    for file in files {
        let db = Database::open(&file).expect("the replica's file opens");
        let txn = db.begin_read().expect("read");
        let table = txn.open_table(Table::Data.definition()).expect("table");
        let value = table.get("a").expect("get").map(|v| v.value().to_vec());
        assert_eq!(value, Some(b"2".to_vec()), "{}", file.display());
        assert_eq!(applied_in_read(&txn), Ok(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_acknowledges_concurrent_writes_and_replicas_agree() {
    let root = TempDir::new().expect("temp dir");
    let store = Arc::new(open(config(&root)));
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let store = Arc::clone(&store);
        writes.spawn(async move {
            let key = format!("k{i:03}");
            store.write(put(&key, &i.to_be_bytes())).await
        });
    }
    while let Some(answer) = writes.join_next().await {
        assert_eq!(answer.expect("task"), Ok(None));
    }
    let contents: Vec<_> = (0..3)
        .map(|r| {
            store
                .read_from(r, |t| t.range(Table::Data, "k", 1000))
                .expect("replica reads")
        })
        .collect();
    assert_eq!(contents[0].len(), 200);
    assert_eq!(contents[0], contents[1]);
    assert_eq!(contents[0], contents[2]);
    let status = store.status();
    let seq = status[0].applied_seq;
    assert!(
        status.iter().all(|s| s.applied_seq == seq) && (1..=200).contains(&seq),
        "{status:?}"
    );
}

#[tokio::test]
async fn range_lists_a_prefix_in_key_order_within_the_limit() {
    let root = TempDir::new().expect("temp dir");
    let store = open(config(&root));
    for key in ["b/2", "a/1", "b/1", "b/3", "c", "b"] {
        store.write(put(key, key.as_bytes())).await.expect("write");
    }
    let listed = store.read(|t| t.range(Table::Data, "b/", 2)).expect("read");
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b/1", "b/2"]);
    let all = store
        .read(|t| t.range(Table::Data, "b/", 10))
        .expect("read");
    assert_eq!(all.len(), 3);
    assert_eq!(store.read(|t| t.range(Table::Data, "", 0)), Ok(vec![]));
}

#[tokio::test]
async fn write_waits_for_a_crashed_replica_that_restarts() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.replica_wait_ms = 10_000;
    let store = Arc::new(open(cfg));
    store.write(put("a", b"1")).await.expect("write");
    store.crash(1);
    assert!(!store.status()[1].up);
    assert_eq!(get_from(&store, 1, "a"), Err(StoreError::Unavailable));
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.write(put("a", b"2")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // It cannot be acknowledged while a replica is down.
    assert!(!writer.is_finished());
    store.restart(1).expect("restarts");
    assert_eq!(writer.await.expect("task"), some(b"1"));
    for r in 0..3 {
        assert_eq!(get_from(&store, r, "a"), some(b"2"), "replica {r}");
    }
}

#[tokio::test]
async fn write_is_busy_while_a_replica_stays_down() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.replica_wait_ms = 100;
    let store = open(cfg);
    store.write(put("a", b"1")).await.expect("write");
    store.crash(2);
    assert_eq!(store.write(put("a", b"2")).await, Err(StoreError::Busy));
    // Reads go on from the live replicas; the unacknowledged write may or
    // may not be there, but they agree.
    let seen = get_from(&store, 0, "a");
    assert!(seen == some(b"1") || seen == some(b"2"), "{seen:?}");
    assert_eq!(get_from(&store, 1, "a"), seen);
    store.restart(2).expect("restarts");
    assert_eq!(store.write(put("a", b"3")).await, seen);
    for r in 0..3 {
        assert_eq!(get_from(&store, r, "a"), some(b"3"), "replica {r}");
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_losing_any_two_replicas() {
    let root = TempDir::new().expect("temp dir");
    let store = Arc::new(open(config(&root)));
    let mut acknowledged = Vec::new();
    for (round, lost) in [[0, 1], [0, 2], [1, 2]].into_iter().enumerate() {
        for i in 0..5 {
            let key = format!("r{round}-{i}");
            store.write(put(&key, key.as_bytes())).await.expect("write");
            acknowledged.push(key);
        }
        store
            .write(Op::Delete(format!("r{round}-0")))
            .await
            .expect("delete");
        acknowledged.retain(|k| *k != format!("r{round}-0"));
        for r in lost {
            store.lose(r);
            assert!(!store.status()[r].dir.exists());
        }
        // The survivor serves every acknowledged write.
        for key in &acknowledged {
            assert_eq!(
                store.read(|t| t.get(Table::Data, key)),
                some(key.as_bytes())
            );
        }
        // A rebuilt replica never serves before it holds everything.
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (store, stop, lost) = (Arc::clone(&store), Arc::clone(&stop), lost[0]);
            let key = acknowledged[acknowledged.len() - 1].clone();
            thread::spawn(move || {
                let mut bad = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match get_from(&store, lost, &key) {
                        Ok(Some(v)) if v == key.as_bytes() => {}
                        Err(StoreError::Unavailable) => {}
                        other => bad.push(other),
                    }
                }
                bad
            })
        };
        for r in lost {
            store.restart(r).expect("restarts");
        }
        stop.store(true, Ordering::SeqCst);
        assert_eq!(watcher.join().expect("watcher"), vec![]);
        for r in 0..3 {
            for key in &acknowledged {
                assert_eq!(
                    get_from(&store, r, key),
                    some(key.as_bytes()),
                    "replica {r}"
                );
            }
            assert_eq!(get_from(&store, r, &format!("r{round}-0")), Ok(None));
        }
    }
}

/// Leaves replica 2 up but one batch behind, with the others down:
/// `a` is `1` on replica 2 and `2` on the others.
async fn replica_two_behind(store: &ReplicatedStore<Op>, root: &TempDir) {
    store.write(put("a", b"1")).await.expect("write");
    store.crash(2);
    let backup = root.path().join("backup.redb");
    fs::copy(file_of(store, 2), &backup).expect("backup");
    store.restart(2).expect("restarts");
    store.write(put("a", b"2")).await.expect("write");
    for r in 0..3 {
        store.crash(r);
    }
    fs::copy(&backup, file_of(store, 2)).expect("restore the old file");
    store.restart(2).expect("restarts with no peer");
    assert_eq!(store.status()[2].applied_seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_replica_serves_no_reads_until_caught_up() {
    let root = TempDir::new().expect("temp dir");
    let store = Arc::new(open(config(&root)));
    replica_two_behind(&store, &root).await;
    assert_eq!(get_from(&store, 2, "a"), Err(StoreError::Unavailable));
    assert_eq!(
        store.read(|t| t.get(Table::Data, "a")),
        Err(StoreError::Unavailable)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        thread::spawn(move || {
            let mut bad = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for answer in [
                    get_from(&store, 2, "a"),
                    store.read(|t| t.get(Table::Data, "a")),
                ] {
                    if answer != Err(StoreError::Unavailable) && answer != some(b"2") {
                        bad.push(answer);
                    }
                }
            }
            bad
        })
    };
    store.restart(0).expect("restarts");
    store.restart(1).expect("restarts");
    // The committer brings replica 2 up to date; only then does it serve.
    assert!(eventually(|| get_from(&store, 2, "a") == some(b"2")));
    stop.store(true, Ordering::SeqCst);
    assert_eq!(watcher.join().expect("watcher"), vec![]);
    assert!(store.status().iter().all(|s| s.applied_seq == 2));
}

#[tokio::test]
async fn open_brings_a_behind_replica_up_to_date() {
    let root = TempDir::new().expect("temp dir");
    let backup = root.path().join("backup.redb");
    {
        let store = open(config(&root));
        store.write(put("a", b"1")).await.expect("write");
        store.write(put("gone", b"x")).await.expect("write");
        store.crash(2);
        fs::copy(file_of(&store, 2), &backup).expect("backup");
        store.restart(2).expect("restarts");
        store.write(put("a", b"2")).await.expect("write");
        store
            .write(Op::Delete("gone".into()))
            .await
            .expect("delete");
    }
    fs::copy(&backup, root.path().join("r2").join(DB_FILE)).expect("restore");
    let store = open(config(&root));
    assert!(store.status().iter().all(|s| s.up && s.applied_seq == 4));
    assert_eq!(get_from(&store, 2, "a"), some(b"2"));
    assert_eq!(get_from(&store, 2, "gone"), Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleted_keys_are_gone_and_space_is_reused() {
    const VALUES: usize = 50;
    const SIZE: usize = 256 * 1024;
    let root = TempDir::new().expect("temp dir");
    let store = Arc::new(open(config(&root)));
    let mut after_first = 0;
    for round in 0..6u8 {
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..VALUES {
            let store = Arc::clone(&store);
            writes.spawn(async move {
                store
                    .write(put(&format!("v{i:02}"), &vec![round; SIZE]))
                    .await
            });
        }
        while let Some(answer) = writes.join_next().await {
            assert_eq!(answer.expect("task"), Ok(None));
        }
        let mut deletes = tokio::task::JoinSet::new();
        for i in 0..VALUES {
            let store = Arc::clone(&store);
            deletes.spawn(async move { store.write(Op::Delete(format!("v{i:02}"))).await });
        }
        while let Some(answer) = deletes.join_next().await {
            assert_eq!(answer.expect("task"), some(&vec![round; SIZE]));
        }
        for r in 0..3 {
            assert_eq!(
                store.read_from(r, |t| t.range(Table::Data, "", 10)),
                Ok(vec![])
            );
            assert_eq!(get_from(&store, r, "v07"), Ok(None));
        }
        if round == 0 {
            after_first = store.disk_bytes();
        }
    }
    // Each replica held at most 50 × 256 KiB = 12.5 MiB of live data at
    // once. redb's allocator rounds a 256 KiB value plus its header up to
    // 512 KiB (2×), and pages freed by a commit are reused from the next
    // commit on (up to 2× again): so 4× the live peak, plus a constant
    // for metadata and region growth, per replica. Without reuse, six
    // rounds would need at least 6× the live peak per replica, which is
    // above that bound.
    let live_peak = (VALUES * SIZE) as u64;
    let per_replica = 4 * live_peak + 8 * 1024 * 1024;
    assert!(per_replica < 6 * live_peak);
    let bound = 3 * per_replica;
    let last = store.disk_bytes();
    assert!(
        last < bound,
        "{last} bytes on disk after six rounds (first round: {after_first}), bound {bound}"
    );
}

#[tokio::test]
async fn full_queue_answers_busy_instead_of_blocking() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.queue_capacity = 1;
    cfg.max_batch = 1;
    cfg.replica_wait_ms = 10_000;
    let store = open(cfg);
    // With a replica down the committer holds one write and waits.
    store.crash(2);
    let mut first = Box::pin(store.write(put("a", b"1")));
    let mut second = Box::pin(store.write(put("b", b"1")));
    let mut third = Box::pin(store.write(put("c", b"1")));
    let polls = [
        poll_once(&mut first),
        poll_once(&mut second),
        poll_once(&mut third),
    ];
    assert!(polls[0].is_pending(), "{polls:?}");
    // At most one write in the committer's hands and one in the queue.
    let busy = polls
        .iter()
        .filter(|p| matches!(p, Poll::Ready(Err(StoreError::Busy))))
        .count();
    assert!(busy >= 1, "{polls:?}");
    store.restart(2).expect("restarts");
    assert_eq!(first.await, Ok(None));
    if polls[1].is_pending() {
        assert_eq!(second.await, Ok(None));
    }
    if polls[2].is_pending() {
        assert_eq!(third.await, Ok(None));
    }
}

#[tokio::test]
async fn a_failing_command_is_refused_alone_and_leaves_nothing() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.queue_capacity = 8;
    let store = open(cfg);
    // Queue three writes so that they are likely one batch.
    let mut a = Box::pin(store.write(put("a", b"1")));
    let mut bad = Box::pin(store.write(Op::Fail("bad".into())));
    let mut b = Box::pin(store.write(put("b", b"1")));
    let _ = (poll_once(&mut a), poll_once(&mut bad), poll_once(&mut b));
    assert_eq!(a.await, Ok(None));
    assert_eq!(bad.await, Err(StoreError::Corrupt("refused bad".into())));
    assert_eq!(b.await, Ok(None));
    for r in 0..3 {
        assert_eq!(get_from(&store, r, "bad"), Ok(None));
        assert_eq!(get_from(&store, r, "a"), some(b"1"));
        assert_eq!(get_from(&store, r, "b"), some(b"1"));
    }
}

#[tokio::test]
async fn diverging_outputs_stop_the_store() {
    let root = TempDir::new().expect("temp dir");
    let store = open(config(&root));
    let counter = Arc::new(AtomicU64::new(0));
    let answer = store.write(Op::Nondeterministic(counter)).await;
    assert!(matches!(answer, Err(StoreError::Diverged(_))), "{answer:?}");
    let next = store.write(put("a", b"1")).await;
    assert!(matches!(next, Err(StoreError::Diverged(_))), "{next:?}");
    // Nothing of the diverging batch was committed.
    assert!(store.status().iter().all(|s| s.applied_seq == 0));
}

#[test]
fn dropping_the_store_stops_a_waiting_committer() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.replica_wait_ms = 600_000;
    let store = open(cfg);
    store.crash(0);
    {
        let mut write = Box::pin(store.write(put("a", b"1")));
        assert!(poll_once(&mut write).is_pending());
    }
    // Returns at once, not after ten minutes: the committer sees the
    // shutdown while it waits for replica 0.
    drop(store);
}

#[test]
fn replica_numbers_are_checked() {
    let root = TempDir::new().expect("temp dir");
    let store = open(config(&root));
    assert_eq!(store.restart(3), Err(StoreError::InvalidReplica(3)));
    assert_eq!(get_from(&store, 7, "a"), Err(StoreError::InvalidReplica(7)));
    store.crash(3);
    store.lose(3);
    assert!(store.status().iter().all(|s| s.up));
}

#[cfg(feature = "seeded-bugs")]
#[tokio::test]
async fn seeded_ack_after_one_replica_loses_an_acknowledged_write() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.replica_wait_ms = 50;
    cfg.bugs = BugSet::only(SeededBug::AckAfterOneReplica);
    let store = open(cfg);
    store.crash(1);
    store.crash(2);
    // Acknowledged with only replica 0 holding it...
    assert_eq!(store.write(put("a", b"1")).await, Ok(None));
    // (past the committer's wait for the others, after which only
    // replica 0 holds the write)
    tokio::time::sleep(Duration::from_millis(500)).await;
    store.lose(0);
    for r in 0..3 {
        store.restart(r).expect("restarts");
    }
    // ...and gone with replica 0.
    assert!(eventually(
        || store.read(|t| t.get(Table::Data, "a")) == Ok(None)
    ));
}

#[cfg(feature = "seeded-bugs")]
#[tokio::test]
async fn seeded_reads_ignore_watermark_serves_a_stale_value() {
    let root = TempDir::new().expect("temp dir");
    let mut cfg = config(&root);
    cfg.bugs = BugSet::only(SeededBug::ReadsIgnoreWatermark);
    let store = open(cfg);
    replica_two_behind(&store, &root).await;
    assert_eq!(get_from(&store, 2, "a"), some(b"1"));
}

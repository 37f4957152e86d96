//! fabric's storage service against Azurite, side by side in one run: put
//! and get of 4 KiB and 1 MiB block blobs with 1 and 16 concurrent clients,
//! operations/s and MiB/s for each server and the ratio ours/Azurite.
//!
//! Not a criterion bench: criterion times one closure at a time, and what is
//! measured here is the throughput of N clients against a server in another
//! runtime or process. Each cell runs for a fixed window after a warm-up
//! and counts the operations that complete inside the window.
//!
//! Run (see benches/azurite/README.md):
//!
//! ```text
//! cargo bench -p fabric-benches --bench storage_peer
//! ```
//!
//! Our service runs in this process, on a tokio runtime of its own, with
//! its data in a temporary folder; Azurite is started by
//! benches/azurite/start.sh with its data in the same temporary folder (the
//! same file system). If Azurite cannot be started, the bench says so,
//! measures ours alone and exits with status 1, unless
//! `STORAGE_PEER_OURS_ONLY=1` asked for ours alone.
//!
//! Settings (environment): `STORAGE_PEER_SECS` (measured seconds per cell,
//! default 4), `STORAGE_PEER_WARMUP_SECS` (default 1),
//! `STORAGE_PEER_AZURITE` (the endpoint of an Azurite already running, e.g.
//! `http://127.0.0.1:10000/devstoreaccount1`, instead of starting one),
//! `STORAGE_PEER_OURS_ONLY=1`.

#[path = "storage_peer/loadgen.rs"]
mod loadgen;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use fabric_conformance::serve::open_service;
use fabric_impl::storage::clock::now_ms;
use fabric_impl::storage::http::StorageServer;
use fabric_impl::storage::service::{DEFAULT_ACCOUNT, DEFAULT_ACCOUNT_KEY};
use loadgen::{Auth, Call, Client, Reply, Target, API_VERSION};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONTAINER: &str = "bench";
const SIZES: [usize; 2] = [4 * 1024, 1024 * 1024];
const CLIENTS: [usize; 2] = [1, 16];
/// Blobs read by the get cells, per size: one per client at most.
const GET_BLOBS: usize = 16;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Put,
    Get,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
        }
    }
}

/// What one cell measured on one server.
#[derive(Clone, Debug)]
struct Measured {
    ops: u64,
    window: Duration,
    size: usize,
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Measured {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64()
    }

    fn mib_per_sec(&self) -> f64 {
        self.ops_per_sec() * self.size as f64 / MIB
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)] as f64 / 1000.0
    }
}

fn env_secs(name: &str, default: f64) -> Result<Duration> {
    match std::env::var(name) {
        Ok(text) => {
            let secs: f64 = text
                .parse()
                .with_context(|| format!("{name}={text} is not a number of seconds"))?;
            if !(secs > 0.0 && secs <= 600.0) {
                bail!("{name}={text}: expected 0 < seconds <= 600");
            }
            Ok(Duration::from_secs_f64(secs))
        }
        Err(_) => Ok(Duration::from_secs_f64(default)),
    }
}

fn payload(size: usize) -> Bytes {
    // Not all zeros, so no layer can shortcut it.
    Bytes::from(
        (0..size)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn get_blob_name(size: usize, index: usize) -> String {
    format!("/{CONTAINER}/get-{size}-{index}")
}

/// Runs one cell: `clients` connections doing `op` on `size`-byte blobs
/// for `warmup` (not counted) then `window` (counted: the operations that
/// complete inside it).
async fn run_cell(
    target: Arc<Target>,
    op: Op,
    size: usize,
    clients: usize,
    warmup: Duration,
    window: Duration,
) -> Result<Measured> {
    let body = payload(size);
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(Client::connect(Arc::clone(&target)).await?);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let counted_from = start + warmup;
    let end = counted_from + window;
    let mut tasks = Vec::with_capacity(clients);
    for (index, mut client) in connections.into_iter().enumerate() {
        let body = body.clone();
        let prefix = format!("{}-{}", now_ms(), index);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut ops = 0u64;
            let mut latencies_us = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut seq = 0u64;
            while Instant::now() < end {
                let call = match op {
                    Op::Put => {
                        seq += 1;
                        Call::put_blob(
                            format!("/{CONTAINER}/put-{size}-{prefix}-{seq}"),
                            body.clone(),
                        )
                    }
                    Op::Get => Call::new("GET", get_blob_name(size, index % GET_BLOBS)),
                };
                let began = Instant::now();
                let outcome = client.send(&call).await;
                let done = Instant::now();
                let problem = match (&outcome, op) {
                    (Ok(reply), Op::Put) if reply.status == 201 => None,
                    (Ok(reply), Op::Get) if reply.status == 200 && reply.body.len() == size => None,
                    (Ok(reply), _) => Some(format!(
                        "{} {}: status {} ({}), {} body bytes",
                        call.method,
                        call.resource,
                        reply.status,
                        reply.error_code().unwrap_or_default(),
                        reply.body.len()
                    )),
                    (Err(error), _) => Some(format!("{error:#}")),
                };
                let failed = problem.is_some();
                if let Some(problem) = problem {
                    errors += 1;
                    first_error.get_or_insert(problem);
                } else if done >= counted_from && done <= end {
                    ops += 1;
                    latencies_us.push(done.duration_since(began).as_micros() as u64);
                }
                if failed && outcome.is_err() {
                    // The connection is gone: stop this client.
                    break;
                }
            }
            (ops, latencies_us, errors, first_error)
        }));
    }
    let mut measured = Measured {
        ops: 0,
        window,
        size,
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
    };
    for task in tasks {
        let (ops, latencies, errors, first_error) = task.await.context("a client panicked")?;
        measured.ops += ops;
        measured.latencies_us.extend(latencies);
        measured.errors += errors;
        if measured.first_error.is_none() {
            measured.first_error = first_error;
        }
    }
    measured.latencies_us.sort_unstable();
    Ok(measured)
}

/// Creates the container and the blobs the get cells read.
async fn prepare(target: Arc<Target>) -> Result<()> {
    let mut client = Client::connect(Arc::clone(&target)).await?;
    let reply = client.send(&Call::create_container(CONTAINER)).await?;
    if reply.status != 201 {
        bail!(
            "{}: creating the container answered {} {:?}: {}",
            target.name,
            reply.status,
            reply.error_code(),
            String::from_utf8_lossy(&reply.body)
        );
    }
    for size in SIZES {
        let body = payload(size);
        for index in 0..GET_BLOBS {
            let reply = client
                .send(&Call::put_blob(get_blob_name(size, index), body.clone()))
                .await?;
            if reply.status != 201 {
                bail!(
                    "{}: putting {} answered {} {:?}",
                    target.name,
                    get_blob_name(size, index),
                    reply.status,
                    reply.error_code()
                );
            }
        }
    }
    Ok(())
}

// ----- the servers ------------------------------------------------------------

/// Our service, in this process on a runtime of its own.
struct Ours {
    runtime: tokio::runtime::Runtime,
    server: Option<StorageServer>,
    endpoint: String,
}

impl Ours {
    fn start(data: PathBuf) -> Result<Ours> {
        let service = Arc::new(open_service(data, &[], "storage-peer-bench-token")?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("fabric-storage")
            .enable_all()
            .build()
            .context("cannot start the server runtime")?;
        let server = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            StorageServer::start(listener, service)
        })?;
        let endpoint = format!("http://{}/{DEFAULT_ACCOUNT}", server.local_addr);
        Ok(Ours {
            runtime,
            server: Some(server),
            endpoint,
        })
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// Azurite, started by benches/azurite/start.sh and stopped by stop.sh.
struct Azurite {
    endpoint: String,
    version: String,
    pid_file: Option<PathBuf>,
    script_dir: PathBuf,
}

impl Azurite {
    fn script_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("azurite")
    }

    fn start(data: &Path, pid_file: &Path) -> Result<Azurite> {
        let script_dir = Azurite::script_dir();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let output = Command::new("bash")
            .arg(script_dir.join("start.sh"))
            .arg(port.to_string())
            .arg(data)
            .env("AZURITE_PID_FILE", pid_file)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run benches/azurite/start.sh (is bash there?)")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "benches/azurite/start.sh failed ({}): {stdout}",
                output.status
            );
        }
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        let endpoint = value("AZURITE_ENDPOINT")
            .ok_or_else(|| anyhow!("start.sh printed no AZURITE_ENDPOINT: {stdout}"))?;
        Ok(Azurite {
            endpoint,
            version: value("AZURITE_VERSION").unwrap_or_else(|| "unknown".to_string()),
            pid_file: Some(pid_file.to_path_buf()),
            script_dir,
        })
    }

    fn external(endpoint: String) -> Azurite {
        Azurite {
            endpoint,
            version: "already running (STORAGE_PEER_AZURITE)".to_string(),
            pid_file: None,
            script_dir: Azurite::script_dir(),
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(pid_file) = self.pid_file.take() {
            let status = Command::new("bash")
                .arg(self.script_dir.join("stop.sh"))
                .env("AZURITE_PID_FILE", &pid_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!(
                    "warning: benches/azurite/stop.sh failed ({status:?}); Azurite's PID is in {}",
                    pid_file.display()
                );
            }
        }
    }
}

// ----- differences ------------------------------------------------------------

/// The same requests to both servers; status and error code side by side.
fn probes(size: usize) -> Vec<(&'static str, Call)> {
    let blob = get_blob_name(size, 0);
    let skewed = now_ms() - 60 * 60 * 1000;
    vec![
        (
            "get missing blob",
            Call::new("GET", format!("/{CONTAINER}/no-such-blob")),
        ),
        (
            "head missing blob",
            Call::new("HEAD", format!("/{CONTAINER}/no-such-blob")),
        ),
        (
            "get blob, missing container",
            Call::new("GET", "/no-such-container/x"),
        ),
        (
            "create existing container",
            Call::create_container(CONTAINER),
        ),
        (
            "create container Bad_Name",
            Call::create_container("Bad_Name"),
        ),
        (
            "put blob, no x-ms-blob-type",
            Call::new("PUT", format!("/{CONTAINER}/untyped")).body(Bytes::from_static(b"x")),
        ),
        (
            "put, If-None-Match:* on existing",
            Call::put_blob(blob.clone(), Bytes::from_static(b"x")).header("if-none-match", "*"),
        ),
        (
            "put, wrong Content-MD5",
            Call::put_blob(format!("/{CONTAINER}/md5"), Bytes::from_static(b"x"))
                .header("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ),
        (
            "get, Range bytes=0-9",
            Call::new("GET", blob.clone()).header("range", "bytes=0-9"),
        ),
        (
            "get, Range past the end",
            Call::new("GET", blob.clone())
                .header("range", &format!("bytes={}-{}", size + 10, size + 20)),
        ),
        (
            "get, wrong key",
            Call::new("GET", blob.clone()).auth(Auth::WrongKey),
        ),
        (
            "get, no Authorization",
            Call::new("GET", blob.clone()).auth(Auth::Anonymous),
        ),
        (
            "get, x-ms-date 1 h ago",
            Call::new("GET", blob.clone()).date_ms(skewed),
        ),
        (
            "get, x-ms-version 2099-01-01",
            Call::new("GET", blob.clone()).version("2099-01-01"),
        ),
        (
            "get, x-ms-version 2026-10-06",
            Call::new("GET", blob.clone()).version("2026-10-06"),
        ),
        (
            "delete missing blob",
            Call::new("DELETE", format!("/{CONTAINER}/no-such-blob")),
        ),
        (
            "list blobs (maxresults=1)",
            Call::new("GET", format!("/{CONTAINER}"))
                .query("restype", "container")
                .query("comp", "list")
                .query("maxresults", "1"),
        ),
    ]
}

fn describe(reply: &Result<Reply>) -> String {
    match reply {
        Ok(reply) => match reply.error_code() {
            Some(code) => format!("{} {code}", reply.status),
            None if reply.status >= 400 && !reply.body.is_empty() => {
                let text = String::from_utf8_lossy(&reply.body);
                let text: String = text.chars().take(60).collect();
                format!("{} (no error code; body: {})", reply.status, text.trim())
            }
            None => reply.status.to_string(),
        },
        Err(error) => format!("error: {error:#}"),
    }
}

async fn compare(ours: Arc<Target>, azurite: Arc<Target>) -> Result<Vec<(String, String, String)>> {
    let mut rows = Vec::new();
    for (label, call) in probes(SIZES[0]) {
        // A fresh connection each: an error may close it.
        let mut a = Client::connect(Arc::clone(&ours)).await?;
        let mut b = Client::connect(Arc::clone(&azurite)).await?;
        let x = describe(&a.send(&call).await);
        let y = describe(&b.send(&call).await);
        rows.push((label.to_string(), x, y));
    }
    Ok(rows)
}

// ----- the run ----------------------------------------------------------------

fn cell_text(m: Option<&Measured>) -> (String, String, String) {
    match m {
        None => ("n/a".into(), "n/a".into(), "n/a".into()),
        Some(m) if m.ops == 0 => (format!("ERR({})", m.errors), "-".into(), "-".into()),
        Some(m) => (
            format!("{:.0}", m.ops_per_sec()),
            format!("{:.2}", m.mib_per_sec()),
            format!("{:.1}/{:.1}", m.percentile_ms(0.5), m.percentile_ms(0.99)),
        ),
    }
}

fn main() -> Result<()> {
    let window = env_secs("STORAGE_PEER_SECS", 4.0)?;
    let warmup = env_secs("STORAGE_PEER_WARMUP_SECS", 1.0)?;
    let ours_only = std::env::var("STORAGE_PEER_OURS_ONLY").is_ok_and(|v| v == "1");
    let scratch = tempfile::Builder::new()
        .prefix("storage-peer-")
        .tempdir()
        .context("cannot make a temporary folder")?;

    let ours = Ours::start(scratch.path().join("fabric"))?;
    let azurite: Result<Azurite, String> = if ours_only {
        Err("not started: STORAGE_PEER_OURS_ONLY=1".to_string())
    } else if let Ok(endpoint) = std::env::var("STORAGE_PEER_AZURITE") {
        Ok(Azurite::external(endpoint))
    } else {
        let data = scratch.path().join("azurite");
        Azurite::start(&data, &scratch.path().join("azurite.pid")).map_err(|e| format!("{e:#}"))
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("load")
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;

    let ours_target = Arc::new(Target::from_endpoint(
        "fabric",
        &ours.endpoint,
        DEFAULT_ACCOUNT_KEY,
    )?);
    runtime
        .block_on(prepare(Arc::clone(&ours_target)))
        .context("cannot prepare fabric's storage service")?;
    // Azurite counts as measured only once it has taken the setup writes.
    let mut azurite_target = None;
    let azurite = azurite.and_then(|a| {
        let target = Target::from_endpoint("Azurite", &a.endpoint, DEFAULT_ACCOUNT_KEY)
            .map(Arc::new)
            .map_err(|e| format!("{e:#}"))?;
        runtime
            .block_on(prepare(Arc::clone(&target)))
            .map_err(|e| {
                format!(
                    "Azurite at {} did not take the setup writes: {e:#}",
                    a.endpoint
                )
            })?;
        azurite_target = Some(target);
        Ok(a)
    });

    println!("storage_peer: fabric storage vs Azurite, one run");
    println!(
        "machine: {} CPUs; servers and load generator share them",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "fabric:  {} (in-process, own tokio runtime; 3 redb replicas, fsync each before ack)",
        ours.endpoint
    );
    match &azurite {
        Ok(a) => println!(
            "Azurite: {} (version {}; loki metadata + fs extents, one copy, --skipApiVersionCheck, not --loose)",
            a.endpoint, a.version
        ),
        Err(reason) => {
            println!("==================================================================");
            println!("AZURITE NOT MEASURED: {reason}");
            println!("Only fabric's figures follow; the Azurite columns are n/a.");
            println!("==================================================================");
        }
    }
    println!(
        "each cell: {:.1} s warm-up, {:.1} s counted; x-ms-version {API_VERSION}; data in {}",
        warmup.as_secs_f64(),
        window.as_secs_f64(),
        scratch.path().display()
    );

    let mut targets = vec![Arc::clone(&ours_target)];
    targets.extend(azurite_target.iter().cloned());

    let mut rows = Vec::new();
    let mut cell_index = 0usize;
    for op in [Op::Put, Op::Get] {
        for size in SIZES {
            for clients in CLIENTS {
                // Alternate who goes first so drift does not favour one.
                let mut order: Vec<&Arc<Target>> = targets.iter().collect();
                if cell_index % 2 == 1 {
                    order.reverse();
                }
                cell_index += 1;
                let mut ours_m = None;
                let mut azurite_m = None;
                for target in order {
                    let measured = runtime.block_on(run_cell(
                        Arc::clone(target),
                        op,
                        size,
                        clients,
                        warmup,
                        window,
                    ))?;
                    eprintln!(
                        "  {:>7} {} {:>4} KiB x{:<2}: {:>8.1} ops/s {:>8.2} MiB/s{}",
                        target.name,
                        op.name(),
                        size / 1024,
                        clients,
                        measured.ops_per_sec(),
                        measured.mib_per_sec(),
                        match &measured.first_error {
                            Some(e) => format!("  ({} errors; first: {e})", measured.errors),
                            None => String::new(),
                        }
                    );
                    if Arc::ptr_eq(target, &ours_target) {
                        ours_m = Some(measured);
                    } else {
                        azurite_m = Some(measured);
                    }
                }
                rows.push((op, size, clients, ours_m, azurite_m));
            }
        }
    }

    println!();
    println!("| op  | size  | clients | fabric ops/s | fabric MiB/s | Azurite ops/s | Azurite MiB/s | ours/Azurite | fabric p50/p99 ms | Azurite p50/p99 ms |");
    println!("|-----|-------|--------:|-------------:|-------------:|--------------:|--------------:|-------------:|------------------:|-------------------:|");
    let mut errors = Vec::new();
    for (op, size, clients, ours_m, azurite_m) in &rows {
        let (a_ops, a_mib, a_lat) = cell_text(ours_m.as_ref());
        let (b_ops, b_mib, b_lat) = cell_text(azurite_m.as_ref());
        let ratio = match (ours_m, azurite_m) {
            (Some(x), Some(y)) if x.ops > 0 && y.ops > 0 => {
                format!("{:.2}x", x.ops_per_sec() / y.ops_per_sec())
            }
            _ => "n/a".to_string(),
        };
        let size_text = if *size >= 1024 * 1024 {
            format!("{} MiB", size / (1024 * 1024))
        } else {
            format!("{} KiB", size / 1024)
        };
        println!(
            "| {} | {size_text:<5} | {clients:>7} | {a_ops:>12} | {a_mib:>12} | {b_ops:>13} | {b_mib:>13} | {ratio:>12} | {a_lat:>17} | {b_lat:>18} |",
            op.name()
        );
        for (name, m) in [("fabric", ours_m), ("Azurite", azurite_m)] {
            if let Some(m) = m {
                if let Some(first) = &m.first_error {
                    errors.push(format!(
                        "{name} {} {size_text} x{clients}: {} failed; first: {first}",
                        op.name(),
                        m.errors
                    ));
                }
            }
        }
    }
    for error in &errors {
        println!("FAILED REQUESTS: {error}");
    }

    if let Some(azurite_target) = &azurite_target {
        let rows = runtime.block_on(compare(
            Arc::clone(&ours_target),
            Arc::clone(azurite_target),
        ))?;
        println!();
        println!("Same request to both (status and error code):");
        println!("| request | fabric | Azurite | |");
        println!("|---|---|---|---|");
        for (label, x, y) in rows {
            let mark = if x == y { "" } else { "differs" };
            println!("| {label} | {x} | {y} | {mark} |");
        }
    }

    drop(runtime);
    drop(azurite_target);
    let azurite_failed = azurite.as_ref().err().cloned();
    drop(azurite);
    drop(ours);
    drop(scratch);
    if let (Some(reason), false) = (azurite_failed, ours_only) {
        println!("AZURITE NOT MEASURED ({reason}): exiting with status 1");
        std::process::exit(1);
    }
    if !errors.is_empty() {
        bail!("{} cells had failed requests", errors.len());
    }
    Ok(())
}

//! The storage service driven by the official Azure Storage Blob SDK for
//! Python: `conformance/tests/python/sdk_suite.py`, run against the service
//! started here, in process, on loopback.
//!
//! The SDK lives in a virtualenv under the cargo target dir
//! (`target/tmp/python-venv`), built with `python3 -m venv` and `pip install
//! -r requirements.txt` the first time and again whenever requirements.txt
//! (or the Python that built it) changes: a stamp file in the venv records
//! both. Builds are serialised across processes by a lock directory beside
//! the venv, and within this process by a mutex. Python 3 with `venv` and
//! `pip`, and a reachable package index, are required: without them the
//! test fails, it does not skip.

use crate::root;
use base64::Engine as _;
use fabric_conformance::serve::{connection_string, open_service, random_token};
use fabric_impl::storage::auth::KeySlot;
use fabric_impl::storage::http::StorageServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The account the suite uses (not the emulator's, so its key is not the
/// well-known one).
const ACCOUNT: &str = "sdkaccount";

/// How long the whole suite may take before it is killed.
const SUITE_DEADLINE: Duration = Duration::from_secs(600);

/// How long to wait for another process building the venv.
const LOCK_WAIT: Duration = Duration::from_secs(20 * 60);

/// A lock directory older than this was left by a process that died.
const STALE_LOCK: Duration = Duration::from_secs(30 * 60);

/// The interpreter that builds the venv (`FABRIC_PYTHON` overrides it).
fn base_python() -> String {
    std::env::var("FABRIC_PYTHON")
        .unwrap_or_else(|_| if cfg!(windows) { "python" } else { "python3" }.to_string())
}

fn python_dir() -> PathBuf {
    root().join("conformance").join("tests").join("python")
}

fn venv_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv")
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn output_text(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Holds the lock directory; removes it when dropped.
struct BuildLock(PathBuf);

impl BuildLock {
    fn acquire(path: PathBuf) -> BuildLock {
        let started = Instant::now();
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return BuildLock(path),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                    if age.is_some_and(|age| age > STALE_LOCK) {
                        // Left by a process that died mid-build; another
                        // waiter may remove it first, which is fine.
                        let _ = std::fs::remove_dir(&path);
                        continue;
                    }
                    assert!(
                        started.elapsed() < LOCK_WAIT,
                        "timed out after {LOCK_WAIT:?} waiting for the venv lock {} \
                         (remove it if no other test is building the venv)",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(error) => panic!("cannot create the venv lock {}: {error}", path.display()),
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The venv's interpreter, with the pinned SDK installed: built once per
/// requirements.txt (and base Python) and reused after.
fn sdk_python() -> PathBuf {
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(python) = ready.as_ref() {
        return python.clone();
    }
    let requirements = python_dir().join("requirements.txt");
    let pinned = std::fs::read(&requirements)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    let base = base_python();
    let version = Command::new(&base).arg("--version").output();
    let version = match version {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if text.is_empty() {
                String::from_utf8_lossy(&output.stderr).trim().to_string()
            } else {
                text
            }
        }
        Ok(output) => panic!(
            "`{base} --version` failed; the SDK tests need Python 3 with venv and pip \
             (set FABRIC_PYTHON to use another interpreter)\n{}",
            output_text(&output)
        ),
        Err(error) => panic!(
            "Python is not available (`{base}`: {error}); the SDK tests need Python 3 with \
             venv and pip (set FABRIC_PYTHON to use another interpreter)"
        ),
    };
    let stamp_text = format!(
        "requirements.txt fnv1a64 {:016x}\nbase python {version}\n",
        fnv1a64(&pinned)
    );

    let venv = venv_dir();
    let parent = venv.parent().expect("the venv has a parent");
    std::fs::create_dir_all(parent)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    let _lock = BuildLock::acquire(parent.join("python-venv.lock"));
    let python = venv_python(&venv);
    let stamp = venv.join("fabric-requirements.stamp");
    let current = std::fs::read_to_string(&stamp).ok();
    if current.as_deref() == Some(stamp_text.as_str()) && python.exists() {
        *ready = Some(python.clone());
        return python;
    }

    println!("building the Python SDK venv in {}", venv.display());
    let started = Instant::now();
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .unwrap_or_else(|e| panic!("cannot remove the stale venv {}: {e}", venv.display()));
    }
    let created = Command::new(&base)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("venv creation failed: cannot run `{base} -m venv`: {e}"));
    assert!(
        created.status.success() && python.exists(),
        "venv creation failed (`{base} -m venv {}`; on Debian/Ubuntu install python3-venv)\n{}",
        venv.display(),
        output_text(&created)
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements)
        .output()
        .unwrap_or_else(|e| panic!("pip install failed: cannot run {}: {e}", python.display()));
    assert!(
        installed.status.success(),
        "pip install failed (`{} -m pip install -r {}`)\n{}",
        python.display(),
        requirements.display(),
        output_text(&installed)
    );
    // Written last, through a rename: a venv without its stamp is rebuilt.
    let partial = venv.join("fabric-requirements.stamp.partial");
    std::fs::write(&partial, &stamp_text)
        .and_then(|()| std::fs::rename(&partial, &stamp))
        .unwrap_or_else(|e| panic!("cannot write the venv stamp {}: {e}", stamp.display()));
    println!("venv ready in {:.1?}", started.elapsed());
    *ready = Some(python.clone());
    python
}

/// Runs the suite with its output in files (no pipe to fill), killing it
/// at the deadline.
fn run_suite(python: &Path, env: &[(&str, &str)], scratch: &Path) -> (bool, String) {
    let out_path = scratch.join("suite.out");
    let err_path = scratch.join("suite.err");
    let out = std::fs::File::create(&out_path).expect("create the suite's stdout file");
    let err = std::fs::File::create(&err_path).expect("create the suite's stderr file");
    let mut command = Command::new(python);
    command
        .arg(python_dir().join("sdk_suite.py"))
        .current_dir(python_dir())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the SDK suite with {}: {e}", python.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the SDK suite") {
            break Some(status);
        }
        if started.elapsed() > SUITE_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    match status {
        Some(status) => (status.success(), format!("{text}\n(suite {status})")),
        None => (
            false,
            format!("{text}\n(killed after {SUITE_DEADLINE:?}: the suite did not finish)"),
        ),
    }
}

#[test]
fn storage_service_passes_the_python_sdk_suite() {
    let started = Instant::now();
    let python = sdk_python();
    let venv_time = started.elapsed();

    let scratch = tempfile::tempdir().expect("a temporary directory");
    let key: Vec<u8> = (0..4)
        .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
        .collect();
    let account = format!(
        "{ACCOUNT}:{}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let token = random_token();
    let service = Arc::new(
        open_service(scratch.path().join("data"), &[account], &token)
            .expect("the storage service opens"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        StorageServer::start(listener, Arc::clone(&service)).expect("the HTTP server starts")
    });
    let endpoint = format!("http://{}", server.local_addr);
    let connection = connection_string(&service, ACCOUNT, &endpoint).expect("a connection string");
    let key1_before = service
        .account_key(ACCOUNT, KeySlot::Primary)
        .expect("key1");

    let suite_started = Instant::now();
    let (passed, output) = run_suite(
        &python,
        &[
            ("FABRIC_STORAGE_CONNECTION_STRING", connection.as_str()),
            ("FABRIC_SUBSCRIPTION_TOKEN", token.as_str()),
        ],
        scratch.path(),
    );
    let suite_time = suite_started.elapsed();
    runtime.block_on(server.shutdown());
    println!("venv: {venv_time:.1?}, suite: {suite_time:.1?}");
    if passed {
        println!("{output}");
    }

    assert!(passed, "the Python SDK suite failed:\n{output}");
    let summary = output
        .lines()
        .find(|line| line.starts_with("sdk suite: "))
        .unwrap_or_else(|| panic!("the suite printed no summary:\n{output}"));
    assert!(
        summary.contains(" 0 failed,") && output.contains("PASS  key_rotation"),
        "unexpected summary {summary:?}:\n{output}"
    );
    // The suite rotated key1 through this server's management endpoint: the
    // service it passed against is the one started here.
    let key1_after = service
        .account_key(ACCOUNT, KeySlot::Primary)
        .expect("key1");
    assert!(
        key1_before.expose() != key1_after.expose(),
        "key1 is unchanged: the suite did not talk to this server"
    );
}

#!/usr/bin/env bash
# Starts Azurite's blob service (the npm package pinned in package.json) as a
# benchmark peer for fabric's storage service.
#
#   benches/azurite/start.sh [PORT] [DATA_DIR]
#
# PORT defaults to 10000. DATA_DIR defaults to a fresh temporary folder,
# which stop.sh removes. Installs Azurite into benches/azurite/node_modules
# first if it is not there (npm ci from package-lock.json).
#
# Prints, on success, lines of the form KEY=VALUE:
#   AZURITE_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1
#   AZURITE_PID=...  AZURITE_DATA=...  AZURITE_LOG=...  AZURITE_VERSION=...
# and writes the PID to $AZURITE_PID_FILE (default benches/azurite/azurite.pid)
# so that stop.sh can stop it.
#
# Settings, and what they mean for durability (Azurite 3.35.0):
#   --blobHost 127.0.0.1       loopback only
#   --location DATA_DIR        on-disk persistence (not --inMemoryPersistence)
#   (no --loose)               unsupported headers/parameters are refused
#   --skipApiVersionCheck      accept x-ms-version values newer than Azurite's
#                              own (2025-11-05), as current SDKs send
#   --disableTelemetry         no telemetry (this machine has no network anyway)
#   --silent                   no per-request access log on the console
#   --disableProductStyleUrl   account always from the first path segment
# Azurite keeps ONE copy: blob bytes go to extent files and are fdatasync'ed
# before the write is acknowledged, but the metadata that makes them a blob
# (LokiJS) lives in memory and is saved to disk every 5 s (autosaveInterval
# 5000), so a crash can lose up to ~5 s of acknowledged writes. fabric's
# service acknowledges a write only after three redb replicas have fsynced it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-${AZURITE_PORT:-10000}}"
data="${2:-${AZURITE_DATA:-}}"
pid_file="${AZURITE_PID_FILE:-$here/azurite.pid}"
bin="$here/node_modules/.bin/azurite-blob"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "start.sh: node and npm are needed to run Azurite" >&2
    exit 2
fi

if [ ! -x "$bin" ]; then
    echo "start.sh: installing Azurite into $here/node_modules (npm ci)" >&2
    if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        echo "start.sh: cannot install Azurite (npm ci failed: no registry access?)" >&2
        exit 3
    fi
fi

if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "start.sh: Azurite already running with PID $(cat "$pid_file") ($pid_file); run stop.sh first" >&2
    exit 4
fi

owned_data=0
if [ -z "$data" ]; then
    data="$(mktemp -d "${TMPDIR:-/tmp}/azurite-data.XXXXXX")"
    owned_data=1
fi
mkdir -p "$data"
log="$data/azurite.log"

"$bin" \
    --blobHost 127.0.0.1 \
    --blobPort "$port" \
    --location "$data" \
    --skipApiVersionCheck \
    --disableTelemetry \
    --disableProductStyleUrl \
    --silent \
    >"$log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"
# What stop.sh removes: the data folder, only if this script made it.
if [ "$owned_data" = 1 ]; then
    echo "$data" >"$pid_file.data"
else
    rm -f "$pid_file.data"
fi

# Wait (up to 30 s) until the port accepts connections.
for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: Azurite exited during startup; its log ($log):" >&2
        cat "$log" >&2 || true
        rm -f "$pid_file" "$pid_file.data"
        exit 5
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "AZURITE_ENDPOINT=http://127.0.0.1:$port/devstoreaccount1"
        echo "AZURITE_PID=$pid"
        echo "AZURITE_DATA=$data"
        echo "AZURITE_LOG=$log"
        echo "AZURITE_VERSION=$("$bin" --version 2>/dev/null || echo unknown)"
        exit 0
    fi
    sleep 0.1
done
echo "start.sh: Azurite did not answer on 127.0.0.1:$port within 30 s" >&2
kill "$pid" 2>/dev/null || true
rm -f "$pid_file" "$pid_file.data"
exit 6

#!/usr/bin/env bash
# Stops the Azurite started by start.sh (the PID in $AZURITE_PID_FILE,
# default benches/azurite/azurite.pid) and removes its data folder if
# start.sh created it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pid_file="${AZURITE_PID_FILE:-$here/azurite.pid}"

if [ ! -f "$pid_file" ]; then
    echo "stop.sh: no PID file at $pid_file; nothing to stop" >&2
    exit 0
fi
pid="$(cat "$pid_file")"
if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "stop.sh: Azurite (PID $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped Azurite (PID $pid)"
else
    echo "stop.sh: Azurite (PID $pid) was not running" >&2
fi
if [ -f "$pid_file.data" ]; then
    data="$(cat "$pid_file.data")"
    case "$data" in
        */azurite-data.*) rm -rf -- "$data" ;;
    esac
    rm -f "$pid_file.data"
fi
rm -f "$pid_file"

#!/usr/bin/env bash
# Replays the storage traces (traces/storage) against Azurite as a peer and
# writes docs/azurite-departures.md: where Azurite departs from the claims,
# per trace and per claim, from this run's output only.
#
#   benches/azurite/departures.sh [PORT]
#
# PORT (default 10020, or $AZURITE_DEPARTURES_PORT) is where Azurite listens
# for the run. Starts Azurite with start.sh (installing it with npm ci if
# needed) in a fresh temporary data folder, runs
#
#   cargo run --release -- replay traces/storage \
#       --peer http://127.0.0.1:PORT/devstoreaccount1 --format json
#
# with FABRIC_LOG=warn,fabric_peer=info (the per-step log the report reads),
# stops Azurite with stop.sh, and writes the report to
# $DEPARTURES_OUT (default docs/azurite-departures.md). Keeps the raw output
# in $DEPARTURES_KEEP if set (a folder: replay.json, replay.log, run.json).
# Departures are the point of the run: the replay's exit status 1 is
# expected; the script fails only if the run itself cannot be made.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${1:-${AZURITE_DEPARTURES_PORT:-10020}}"
out="${DEPARTURES_OUT:-$root/docs/azurite-departures.md}"
work="$(mktemp -d "${TMPDIR:-/tmp}/azurite-departures.XXXXXX")"
export AZURITE_PID_FILE="$work/azurite.pid"

cleanup() {
    if [ -f "$AZURITE_PID_FILE" ]; then
        "$here/stop.sh" >&2 || true
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT

cd "$root"
echo "departures.sh: building fabric (release)" >&2
cargo build --release -q -p fabric-conformance

echo "departures.sh: starting Azurite on port $port" >&2
"$here/start.sh" "$port" >"$work/start.env"
endpoint="$(sed -n 's/^AZURITE_ENDPOINT=//p' "$work/start.env")"
azurite_pid="$(sed -n 's/^AZURITE_PID=//p' "$work/start.env")"
azurite_version="$(sed -n 's/^AZURITE_VERSION=//p' "$work/start.env")"
azurite_args="$(tr '\0' ' ' <"/proc/$azurite_pid/cmdline" | sed 's/ $//')"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

command=(cargo run --release -- replay traces/storage --peer "$endpoint" --format json)
echo "departures.sh: FABRIC_LOG=warn,fabric_peer=info ${command[*]}" >&2
set +e
FABRIC_LOG=warn,fabric_peer=info NO_COLOR=1 "${command[@]}" >"$work/replay.json" 2>"$work/replay.log"
status=$?
set -e

"$here/stop.sh" >&2
if [ "$status" -gt 1 ]; then
    echo "departures.sh: the replay could not be run (exit status $status):" >&2
    cat "$work/replay.log" >&2
    exit "$status"
fi

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
    tree="commit $commit with uncommitted changes"
else
    tree="commit $commit"
fi
RUN_DATE="$started" RUN_AZURITE_VERSION="$azurite_version" RUN_AZURITE_ARGS="$azurite_args" \
RUN_NODE="$(node --version)" RUN_TREE="$tree" RUN_ENDPOINT="$endpoint" \
RUN_COMMAND="${command[*]}" RUN_STATUS="$status" \
python3 - "$work/run.json" <<'PY'
import json, os, sys
json.dump({
    "date": os.environ["RUN_DATE"],
    "azurite_version": os.environ["RUN_AZURITE_VERSION"],
    "azurite_args": os.environ["RUN_AZURITE_ARGS"],
    "node": os.environ["RUN_NODE"],
    "tree": os.environ["RUN_TREE"],
    "endpoint": os.environ["RUN_ENDPOINT"],
    "command": os.environ["RUN_COMMAND"],
    "status": int(os.environ["RUN_STATUS"]),
}, open(sys.argv[1], "w"), indent=1)
PY

if [ -n "${DEPARTURES_KEEP:-}" ]; then
    mkdir -p "$DEPARTURES_KEEP"
    cp "$work/replay.json" "$work/replay.log" "$work/run.json" "$DEPARTURES_KEEP/"
fi

python3 - "$work/run.json" "$work/replay.json" "$work/replay.log" traces/storage "$out" <<'PY'
"""Writes the departures report from one run's output (see departures.sh)."""
import json
import os
import re
import sys
from collections import OrderedDict, defaultdict

run_path, json_path, log_path, traces_dir, out_path = sys.argv[1:]
run = json.load(open(run_path))
doc = json.load(open(json_path))

# ----- the run's output ----------------------------------------------------------
# PEER-STEP: one per step the adapter ran on Azurite; PEER-TRACE: one per flaw
# trace, with the correct model's step where the flaw first shows and after.
steps = defaultdict(dict)
flaws = {}
ansi = re.compile(r"\x1b\[[0-9;]*m")
for text in open(log_path, errors="replace"):
    text = ansi.sub("", text).rstrip("\n")
    m = re.search(r"PEER-(STEP|TRACE) (\{.*\})\s*$", text)
    if not m:
        continue
    record = json.loads(m.group(2))
    if m.group(1) == "STEP":
        steps[record["trace"]][record["step"]] = record
    else:
        flaws[record["trace"]] = record

# ----- the traces as narratives ----------------------------------------------------
line_re = re.compile(r"^(\d+)\. (.*?)(?: \[([^\]]*)\])?(?: \*\*breaks ([^*]+)\*\*)?\s*$")


def ids(text):
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def narrative(path):
    md = re.sub(r"\.itf\.json$", ".md", path)
    info = {"claims": [], "flaw": None, "lines": {}}
    for text in open(md):
        text = text.rstrip("\n")
        if text.startswith("- claims: "):
            info["claims"] = ids(text[len("- claims: "):])
        elif text.startswith("- flaw: "):
            flaw = text[len("- flaw: "):].strip()
            info["flaw"] = None if flaw == "none" else flaw
        m = line_re.match(text)
        if m:
            info["lines"][int(m.group(1))] = {
                "text": m.group(2), "claims": ids(m.group(3)), "breaks": ids(m.group(4))}
    return info


def outcome_words(sentence):
    """The outcome part of a narrative sentence ('...: refused (403 X).')."""
    return sentence.rsplit(": ", 1)[1].rstrip(".") if ": " in sentence else sentence


def error_parts(text):
    m = re.match(r"^(\S+\.itf\.json): step (\d+): (.*)$", text, re.S)
    if not m:
        return None, None, text
    message = m.group(3)
    # anyhow prints the cause after the error, which says the same.
    half = (len(message) - 2) // 2
    if message[half:half + 2] == ": " and message[:half] == message[half + 2:]:
        message = message[:half]
    return m.group(1), int(m.group(2)), message


def correct_step(path, step):
    """The correct model's step `step` of a flaw trace, when it can take it."""
    record = flaws.get(path)
    if not record:
        return None
    if record["flaw_step"] == step:
        return record["correct"]
    for later in record.get("later", []):
        if later["step"] == step:
            return later
    return None


def answered(path, step):
    """What Azurite answered at `step`, from the step log."""
    record = steps.get(path, {}).get(step)
    if not record:
        return None
    if record.get("reports"):
        return ("HTTP %d to the write sent at step %d (this commit reports that answer as `%s`)"
                % (record["reports"]["status"], record["reports"]["step"], record["observed"]))
    if record["result"] == "outcome":
        return "%s (`%s`)" % (record["http"], record["observed"]) if record.get("http") else "`%s`" % record["observed"]
    return record["observed"]


KINDS = OrderedDict([
    ("allowed", "Azurite allowed what the claims refuse"),
    ("not stopped", "a flaw's counterexample went through"),
    ("refused", "Azurite refused what the claims allow"),
    ("result", "Azurite answered with another result"),
    ("code", "refused as the claims require, with another status or error code"),
])


def kind_of(expected_refused, observed_refused):
    if expected_refused and observed_refused:
        return "code"
    return "allowed" if expected_refused else "refused" if observed_refused else "result"


# ----- one entry per trace -----------------------------------------------------------
reports = {r["path"]: r for r in doc.get("traces", [])}
errors = {}
for text in doc.get("errors", []):
    path, step, message = error_parts(text)
    errors[path] = (step, message)

entries = []
for path in sorted(set(reports) | set(errors)):
    info = narrative(path)
    lines = info["lines"]
    flaw = flaws.get(path)
    e = {"name": os.path.basename(path)[:-len(".itf.json")], "path": path, "info": info,
         "total": max(lines) if lines else 0, "flaw_step": flaw["flaw_step"] if flaw else None}
    if path in reports:
        r = reports[path]
        v = r["verdict"]
        e["matched"], e["total"] = r["steps_matched"], r["steps_total"]
        s = v.get("step", v.get("expected_step"))
        e["step"] = s
    else:
        s, message = errors[path]
        e["step"], e["message"] = s, message
        e["matched"] = max(0, (s or 1) - 1)
        v = None
    line = lines.get(s, {"text": "", "claims": [], "breaks": []}) if s is not None else None
    past_flaw = e["flaw_step"] is not None and s is not None and s >= e["flaw_step"]
    correct = correct_step(path, s) if past_flaw else None
    # What the claims expect at the stopping step: the trace's outcome, or
    # past a flaw's step the correct model's, and the claims that touches.
    if correct is not None:
        e["expected"] = outcome_words(correct["narrative"])
        e["claims"] = sorted(set(correct["claims"]) | set(line["breaks"]))
    elif line is not None:
        e["expected"] = outcome_words(line["text"])
        e["claims"] = sorted(set(line["claims"]) | (set(line["breaks"]) if past_flaw else set()))
    e["observed"] = answered(path, s) if s is not None else None
    if v is not None and v["verdict"] == "matched":
        e.update(result="passed", how="all %d steps matched" % r["steps_total"])
    elif v is not None and v["verdict"] == "stopped-as-expected":
        e.update(result="passed", how="counterexample stopped at step %d (the flaw lets it through at step %d)"
                 % (s, e["flaw_step"]))
        if correct is None:
            e["expected"] = None
            e["correct_text"] = ("the correct model cannot take step %d, so it has no answer here" % e["flaw_step"]
                                 if e["flaw_step"] else "the correct model has no such initial state")
        else:
            e["correct_text"] = "the correct model answers: %s" % e["expected"]
        e["stops"] = line["breaks"]
    elif v is not None and v["verdict"] == "mismatch":
        m = v
        e.update(result="departed", how="first mismatch at step %d" % s)
        if re.match(r"^\w+ = ", m["expected"]):
            e["expected"] = "`%s`" % m["expected"]
        e["raw"] = (m["expected"], m["observed"])
        if e["observed"] is None:
            e["observed"] = "`%s`" % m["observed"]
        e["kind"] = kind_of(e["expected"].startswith("refused"), m["observed"].startswith("Denied"))
    elif v is not None:  # not-stopped
        m = v.get("mismatch")
        e.update(result="departed", kind="not stopped",
                 how="the flaw's step %d went through%s" % (s, "; first mismatch at step %d" % m["step"] if m else ""))
        e["claims"] = line["breaks"]
        e["expected"] = None
        e["correct_text"] = ("the correct model cannot take this step" if correct is None
                             else "the correct model answers: %s" % outcome_words(correct["narrative"]))
    elif message.startswith("peer cannot:"):
        e.update(result="not applicable", how="not applicable at step %d" % s,
                 capability=message[len("peer cannot:"):].strip())
    elif message.startswith("peer answered"):
        said = re.sub(r", a code the model has no name for$", "", message[len("peer answered"):].strip())
        e["observed"] = said + " (a code the model has no name for)"
        e["observed_short"] = said.split(" (")[0]
        e["kind"] = kind_of(e["expected"].startswith("refused"), True)
        e.update(result="departed", how=("counterexample refused at step %d, with a code the model has no name for" % s)
                 if past_flaw else "first mismatch at step %d" % s)
    else:
        e.update(result="error", how="the replay could not run step %s: %s" % (s, message))
    entries.append(e)

# ----- per claim -------------------------------------------------------------------------
statements = {}
if os.path.exists("docs/claims.md"):
    for text in open("docs/claims.md"):
        m = re.match(r"^\| ([A-Z]+-\d+) \| `[A-Z]+-\d+ ([^`]*)`", text)
        if m:
            statements[m.group(1)] = m.group(2)


def claim_key(c):
    area, _, n = c.partition("-")
    return ({"STO": 0, "GEO": 1, "DRV": 2}.get(area, 3), int(n) if n.isdigit() else 0)


claims = sorted({c for e in entries for c in e["info"]["claims"]}, key=claim_key)
passed = defaultdict(int)
quiet = defaultdict(int)
unreached = defaultdict(int)
stopped = defaultdict(list)
departed = defaultdict(list)
inapplicable = defaultdict(list)
for e in entries:
    lines = e["info"]["lines"]
    for s in range(1, e["matched"] + 1):
        record = steps.get(e["path"], {}).get(s, {})
        for c in lines.get(s, {}).get("claims", []):
            if record.get("requests", 0) > 0:
                passed[c] += 1
            else:
                quiet[c] += 1
    if e["result"] != "passed" and e.get("step") is not None:
        for s, line in lines.items():
            if s > e["step"]:
                for c in line["claims"]:
                    unreached[c] += 1
    if e["result"] == "passed" and e.get("stops"):
        for c in e["stops"]:
            stopped[c].append(e)
    elif e["result"] == "departed":
        for c in e.get("claims", []):
            departed[c].append(e)
    elif e["result"] == "not applicable":
        for c in e.get("claims", []):
            inapplicable[c].append(e)


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def capital(text):
    return text[:1].upper() + text[1:]


def where(es):
    return ", ".join("`%s`" % e["name"] if e.get("step") is None else "`%s` %d" % (e["name"], e["step"])
                     for e in es) or "-"


# ----- writing ------------------------------------------------------------------------------
out = []
w = out.append
counts = defaultdict(int)
for e in entries:
    counts[e["result"]] += 1
args = run["azurite_args"].replace(os.getcwd() + "/", "")
args = re.sub(r"(--location) \S+", r"\1 DATA_DIR", args)

w("# Azurite's departures from the storage claims")
w("")
w("Generated by `benches/azurite/departures.sh` from one run; do not edit by hand, run the script "
  "again. Every statement below about Azurite is what that run observed.")
w("")
w("- Date (UTC): %s" % run["date"])
w("- Azurite %s (as `azurite-blob --version` printed), on node %s, started by `benches/azurite/start.sh` as" % (
    run["azurite_version"], run["node"]))
w("  `%s`" % args)
w("  (DATA_DIR: a fresh temporary folder, removed afterwards by `stop.sh`).")
w("- fabric: %s." % run["tree"])
w("- The replay: `FABRIC_LOG=warn,fabric_peer=info %s` (exit status %d)." % (run["command"], run["status"]))
w("- To regenerate: `benches/azurite/departures.sh [PORT]`; it starts Azurite, runs the replay, stops "
  "Azurite and rewrites this file.")
w("")
w("**%d traces: %d passed, %d departed, %d not applicable to Azurite%s.**" % (
    len(entries), counts["passed"], counts["departed"], counts["not applicable"],
    ", %d could not run" % counts["error"] if counts["error"] else ""))
w("")
w("## In short")
w("")
kinds_seen = defaultdict(list)
for e in entries:
    if e["result"] == "departed":
        kinds_seen[e["kind"]].append(e)
for kind, text in KINDS.items():
    if kinds_seen[kind]:
        pairs = OrderedDict()
        for e in kinds_seen[kind]:
            if kind == "not stopped":
                key = "%s; Azurite answered %s" % (e["correct_text"], e["observed"])
            else:
                key = "expected %s, Azurite answered %s" % (e["expected"], e.get("observed_short") or e["observed"])
            pairs.setdefault(key, []).append(e)
        w("- %s: %s." % (capital(text), plural(len(kinds_seen[kind]), "trace")))
        for key, es in pairs.items():
            w("  - %s: %s." % (capital(key), where(es)))
    else:
        w("- %s: none." % capital(text))
w("- Passed: %s (%s)." % (plural(counts["passed"], "trace"), where([e for e in entries if e["result"] == "passed"])))
capabilities = OrderedDict()
for e in entries:
    if e["result"] == "not applicable":
        capabilities.setdefault(e["capability"], []).append(e)
w("- Not applicable: %s." % plural(counts["not applicable"], "trace"))
for capability, es in capabilities.items():
    w("  - Azurite cannot %s: %s." % (capability, where(es)))
w("")
w("## How the traces are replayed on Azurite")
w("")
w("The trace files `fabric replay` replays against fabric's storage service, replayed by the storage "
  "adapter's peer mode (`--peer`, `conformance/src/areas/storage/peer.rs`) over HTTP against Azurite's blob endpoint:")
w("")
w("- Requests are path-style (`/devstoreaccount1/CONTAINER/blobN`), signed with Shared Key and the emulator "
  "account's well-known key, at API version 2025-11-05 (`x-ms-version` and SAS `sv`). Each trace gets a "
  "fresh container (`fabric-SECONDS-N`), deleted after it.")
w("- Model time: tick `t` is the real time at the trace's start (whole seconds) plus `t` x 15 s, and a tick "
  "takes no real time; requests carry that time in `x-ms-date`. SAS windows and policy expiries are judged "
  "by Azurite's real clock, so they are written relative to real time when sent: a time at tick `k`, sent at "
  "tick `t`, is now + (k - t) x 15 s, minus 7 s for a start and plus 7 s for an expiry. The ad hoc SAS is "
  "signed afresh at each use (same key, permission, blob and window in ticks), and the container ACL is "
  "written again at a tick while a policy has a finite expiry. A window the model is inside is then open on "
  "Azurite with 7 s to spare, and one the model has left at a tick closed by at least 8 s; with model times "
  "sent as they are, a window of tick 0 would be over on Azurite's clock before it is used and one of tick 1 "
  "not yet begun, so Azurite's SAS and policy checks could not be compared at all.")
w("- A put, delete or snapshot is sent when the model accepts it. Azurite's refusal is the step's outcome; "
  "its success is `Accepted`, and the model's `Commit` reports that same answer as `Acknowledged`. "
  "`Replicate` sends nothing.")
w("- What Azurite cannot be asked to do ends the trace as **not applicable** (the adapter's "
  "`peer cannot: ...`), never as a mismatch: crash or restart a replica, regenerate a key (no management API), "
  "sign with the secondary key (the replay is given one key), show a read, list or lease as it was before a "
  "write the model still has in flight (Azurite has applied it already), let a fixed-duration lease run out "
  "at a tick, or show state that only the flaw changes (replica placement).")
w("- After each step the only state compared is the container's public access level (`Get Container ACL`); "
  "replicas, placement, keys, leases and policies are compared only through the answers to requests.")
w("- A refusal whose error code the model has no name for is reported with Azurite's status, code and message.")
w("- Replay stops at a trace's first departure: later steps are not run (counted below as not reached). A "
  "flaw's counterexample passes when Azurite departs from it at or after the step where the flaw lets it through.")
w("")
w("## Summary per trace")
w("")
w("| Trace | Result | Step | Detail |")
w("|---|---|---|---|")
for e in entries:
    if e["result"] == "passed":
        detail = e["how"]
    elif e["result"] == "not applicable":
        detail = "Azurite cannot " + e["capability"]
    elif e["result"] == "departed" and e["kind"] == "not stopped":
        detail = "%s: %s; Azurite answered %s" % (KINDS[e["kind"]], e["correct_text"], e["observed"])
    elif e["result"] == "departed":
        detail = "%s; expected %s, Azurite answered %s" % (
            KINDS[e["kind"]], e["expected"], e.get("observed_short") or e["observed"])
    else:
        detail = e["how"]
    step = "" if e.get("step") is None else "%d of %d" % (e["step"], e["total"])
    w("| `%s` | %s | %s | %s |" % (e["name"], e["result"], step, detail.replace("|", "\\|")))
w("")
w("## Summary per claim")
w("")
w("- Steps passed: steps touching the claim whose requests Azurite answered as the trace says.")
w("- No request: matched steps touching the claim that send Azurite nothing (a replication step; a commit, "
  "which reports the answer Azurite gave when the write was sent; a tick; a key switch; a SAS handed over). "
  "They show nothing about Azurite.")
w("- Stopped: flaw counterexamples breaking the claim that Azurite stopped.")
w("- Departed, not applicable: traces whose stopping step touches the claim (past a flaw's step, the claims "
  "of the correct model's answer there and those the flaw breaks).")
w("- Not reached: steps touching the claim after a trace stopped early.")
w("")
w("| Claim | Statement | Steps passed | No request | Stopped | Departed | Not applicable | Not reached | Verdict |")
w("|---|---|---|---|---|---|---|---|---|")
for c in claims:
    kinds = [k for k in KINDS if any(d.get("kind") == k for d in departed[c])]
    if not departed[c]:
        verdict = "no departure in what ran" if passed[c] or stopped[c] else "nothing about it was asked of Azurite"
    elif kinds == ["code"]:
        verdict = "departs in error codes only"
    else:
        verdict = "departs: " + ", ".join(k for k in kinds if k != "code") + (", and in codes" if "code" in kinds else "")
    w("| %s | %s | %d | %d | %s | %s | %s | %d | %s |" % (
        c, statements.get(c, ""), passed[c], quiet[c], where(stopped[c]), where(departed[c]),
        where(inapplicable[c]), unreached[c], verdict))
w("")
w("Why, claim by claim (what the claims expect, what Azurite answered; Azurite's messages are in the "
  "per-trace sections):")
w("")
for c in claims:
    w("- **%s** (%s): %s passed, %s matched without a request." % (
        c, statements.get(c, "?"), plural(passed[c], "step"), quiet[c]))
    for e in stopped[c]:
        w("  - stopped `%s` at step %d: %s; Azurite answered %s." % (
            e["name"], e["step"], e["correct_text"], e["observed"]))
    groups = OrderedDict()
    for e in departed[c]:
        key = (e["kind"], e["expected"] or e.get("correct_text"), e.get("observed_short") or e["observed"])
        groups.setdefault(key, []).append(e)
    for (kind, expected, observed), es in groups.items():
        if kind == "not stopped":
            w("  - %s: %s; Azurite answered %s (%s)." % (KINDS[kind], expected, observed, where(es)))
        else:
            w("  - %s: expected %s, Azurite answered %s (%s)." % (KINDS[kind], expected, observed, where(es)))
    capabilities = OrderedDict()
    for e in inapplicable[c]:
        capabilities.setdefault(e["capability"], []).append(e)
    for capability, es in capabilities.items():
        w("  - not applicable: Azurite cannot %s (%s)." % (capability, where(es)))
    if unreached[c]:
        w("  - %s touching it %s not reached." % (plural(unreached[c], "step"), "was" if unreached[c] == 1 else "were"))
w("")
w("## Per trace")
w("")
for e in entries:
    info = e["info"]
    w("### `%s`" % e["name"])
    w("")
    w("- Flaw: %s; claims: %s; %s." % (info["flaw"] or "none", ", ".join(info["claims"]), plural(e["total"], "step")))
    line = info["lines"].get(e.get("step")) if e.get("step") else None
    step_line = None
    if line:
        step_line = "- Step %d: %s [%s]%s" % (e["step"], line["text"], ", ".join(line["claims"]),
                                               " (under the flaw; breaks %s)" % ", ".join(line["breaks"]) if line["breaks"] else "")
    elif e.get("step") == 0:
        step_line = "- Step 0: the initial state."
    if e["result"] == "passed":
        w("- **Passed**: %s." % e["how"])
        if step_line:
            w(step_line)
            w("- %s; Azurite answered %s." % (capital(e["correct_text"]), e["observed"]))
    elif e["result"] == "not applicable":
        w("- **Not applicable** at step %d, after %s: Azurite cannot %s." % (
            e["step"], plural(e["matched"], "matched step"), e["capability"]))
        if step_line:
            w(step_line)
    elif e["result"] == "departed":
        w("- **Departed**, %s: %s, after %s." % (KINDS[e["kind"]], e["how"], plural(e["matched"], "matched step")))
        if step_line:
            w(step_line)
        if e["kind"] == "not stopped":
            w("- %s; Azurite answered %s." % (capital(e["correct_text"]), e["observed"]))
        else:
            w("- Expected: %s; Azurite answered %s." % (e["expected"], e["observed"]))
        if e.get("raw"):
            w("- As the replay reports it: expected `%s`, observed `%s`." % e["raw"])
        w("- Claims touched: %s." % (", ".join(e.get("claims", [])) or "none"))
    else:
        w("- **Could not run**: %s." % e["how"])
    w("")

with open(out_path, "w") as f:
    f.write("\n".join(out).rstrip("\n") + "\n")
print("departures.sh: wrote %s (%d traces: %d passed, %d departed, %d not applicable)" % (
    out_path, len(entries), counts["passed"], counts["departed"], counts["not applicable"]), file=sys.stderr)
PY

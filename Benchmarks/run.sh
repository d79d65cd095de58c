#!/usr/bin/env bash
# The benchmark suite (docs/BENCHMARKS.md): every figure beside its baseline,
# measured in the same run, min and median over 3 repetitions.
#
#   Benchmarks/run.sh                  10k, 100k and 1M records (about an hour on 2 cores)
#   Benchmarks/run.sh 100000           one size
#   Benchmarks/run.sh --smoke          10k records, 1 repetition of the slow parts (CI)
#
# Builds syncbench, syncd and syncctl in release mode; puts Loro and pycrdt in
# a venv under Benchmarks/crdt-baselines/.venv (pip; skipped with a warning
# when PyPI cannot be reached).
set -euo pipefail
cd "$(dirname "$0")/.."

repetitions=3
slow_repetitions=3   # the daemon benchmarks
sizes=()
smoke=0
for argument in "$@"; do
    case "$argument" in
        --smoke) sizes=(10000); slow_repetitions=1; smoke=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) sizes+=("$argument") ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)

venv=Benchmarks/crdt-baselines/.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import loro, pycrdt' 2>/dev/null; then
    echo "== installing the Loro and Yrs baselines (pip install loro pycrdt) =="
    { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet loro pycrdt; } \
        || echo "warning: no Loro/Yrs baselines (python3-venv or PyPI missing); the libraries benchmark prints SyncCore alone"
fi
export SYNCBENCH_PYTHON="$PWD/$venv/bin/python"

echo "== building (release) =="
for product in syncbench syncd syncctl; do swift build -c release --product "$product" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] |^(Building|Write|Compiling|Linking)'; done
bench=.build/release/syncbench

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(swift --version 2>&1 | head -1), sqlite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1), $(date -u +%F)"
for records in "${sizes[@]}"; do
    echo
    echo "== $records records =="
    echo "-- 1. local import --"
    "$bench" import --records "$records" --repetitions "$repetitions"
    echo "-- 2. apply remote slot states --"
    "$bench" apply --slots $((records * 8)) --repetitions "$repetitions"
    echo "-- 12. a 1,000-change delta on a replica of N beside plain upserts; the store's size beside a plain table (issue 24, aims 2 and 4) --"
    "$bench" delta --records "$records" --repetitions "$repetitions"
    echo "-- 3, 4, 7. initial sync (pulling every change), one changed field, syncctl queries --"
    "$bench" sync --records "$records" --repetitions "$slow_repetitions"
    echo "-- 10. a new daemon joining by snapshot (issue 24, aim 1) --"
    "$bench" join --records "$records" --repetitions "$slow_repetitions"
    echo "-- 6. beside Loro and Yrs --"
    "$bench" libraries --records "$records" --repetitions "$repetitions"
    echo "-- 8. the web API beside sqlite3 --"
    "$bench" web --records "$records" --repetitions "$repetitions"
done
echo
echo "-- 9. a 10,000-row SQL UPDATE beside syncctl import --"
"$bench" sql --records 10000 --repetitions "$slow_repetitions"
echo
echo "-- 5. convergence of 10 daemons --"
"$bench" converge --repetitions "$slow_repetitions"
if [ "$smoke" = 0 ]; then
    # Not in CI (--smoke): 50 processes on a 2-core machine.
    echo
    echo "-- 11. convergence of 50 daemons, random graph of degree 3 (issue 24, aim 5) --"
    "$bench" converge --daemons 50 --repetitions 1
fi

#!/usr/bin/env bash
# Regenerate results/: every canonical experiment (sweeps and the sensitivity study), one
# traced run for the timeline, the replay of the example fleet's log (with its own report),
# and the report. Usage: bash experiments/run-all.sh [--workers N]
set -euo pipefail
cd "$(dirname "$0")/.."
for experiment in experiments/*.toml; do
    name=$(basename "$experiment" .toml)
    if grep -q '^\[sensitivity' "$experiment"; then  # a sensitivity study, not a sweep
        rassim sensitivity "$experiment" --out "results/$name" --quiet "$@"
    else
        rassim sweep "$experiment" --out "results/$name" --quiet "$@"
    fi
done
rassim run --preset qemu-ras --set duration=2d --set memory.acceleration=300000 -r 2 \
    --out results/trace-qemu-ras
rassim replay experiments/replay/log --scenario experiments/replay/fleet.toml -r 20 \
    --out results/replay --quiet
rassim report results --out results/report

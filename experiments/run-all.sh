#!/usr/bin/env bash
# Regenerate results/: every canonical experiment, one traced run for the timeline, and
# the report. Usage: bash experiments/run-all.sh [--workers N]
set -euo pipefail
cd "$(dirname "$0")/.."
for experiment in experiments/*.toml; do
    name=$(basename "$experiment" .toml)
    rassim sweep "$experiment" --out "results/$name" --quiet "$@"
done
rassim run --preset qemu-ras --set duration=2d --set memory.acceleration=300000 -r 2 \
    --out results/trace-qemu-ras
rassim report results --out results/report

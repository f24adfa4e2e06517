#!/usr/bin/env bash
# Re-run three runs of every committed experiment (the first, the middle and the last) and
# check them against its manifest.json (issue #5: a change that alters results must regenerate
# them in the same commit). One run each did not catch results that a change had altered in
# some runs only (2026-11-28: the last bit of trust_final in a third of rulings' runs).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in results/*/; do
    [[ -f "$dir/manifest.json" ]] || continue
    .venv/bin/gridsim reproduce "$dir" --sample 3 || status=1
done
exit $status

#!/usr/bin/env bash
# Regenerates the recorded full-mode sweeps in results/ (resumes: finished runs are kept).
# Usage: bash results/record.sh [GRID_NAME ...]   (default: every grid in results/grids)
# Each store results/NAME gets the grid it was made from and the exact command, in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${WORKERS:-2}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=($(ls results/grids/*.toml | xargs -n1 basename | sed 's/\.toml$//'))
fi
for name in "${names[@]}"; do
  command="$PY -m scalinglab sweep results/grids/$name.toml --out results/$name --executor process --workers $WORKERS --quiet"
  echo "== $name: $command"
  start=$(date +%s)
  $command
  seconds=$(( $(date +%s) - start ))
  cp "results/grids/$name.toml" "results/$name/grid.toml"
  cat > "results/$name/README.md" <<README
# results/$name

Recorded with \`bash results/record.sh $name\`, which runs:

    $command

Grid: [grid.toml](grid.toml) (a copy of results/grids/$name.toml). Each run's record in
runs/ holds its config, its full result and its provenance (device, versions, git
commit, date, wall time). Last (re)run: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, ${seconds} s
(a run that resumed the store times only the runs it made; each record holds its own wall time).
README
done

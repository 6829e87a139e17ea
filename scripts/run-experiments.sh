#!/usr/bin/env bash
# Regenerate every experiment's results and figures: execute the notebooks experiments/NN_*.py
# (jupytext percent scripts) top to bottom, headless, in the project venv's Python.
#
#   scripts/run-experiments.sh                      # all five, full setting -> results/NN_*/ (+ docs/sensitivity.md)
#   scripts/run-experiments.sh 01_strategies        # just one (or several), by name
#   CREDSIM_QUICK=1 scripts/run-experiments.sh      # quick setting (tiny sizes) -> results/quick/NN_*/
#   CREDSIM_WORKERS=2 scripts/run-experiments.sh    # worker processes (default: one per core)
#
# Resumable: a sweep's finished runs are skipped when it is run again. Each executed notebook, with its
# outputs, is written to results[/quick]/NAME/NAME.ipynb (git-ignored; the .py is the reviewed source).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
    echo "run-experiments: $PY not found; run 'make setup' first" >&2
    exit 2
fi
export MPLBACKEND=Agg JUPYTER_PLATFORM_DIRS=1
exec "$PY" experiments/nbsupport.py "$@"

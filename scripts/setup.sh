#!/usr/bin/env bash
# Create .venv/ at the project root and install credsim into it, editable, with the `test` extra,
# every dependency pinned by requirements.lock. Fast no-op when .venv is already up to date.
#
# Python: the version in .python-version from pyenv (~/.pyenv/versions/X.Y.Z, also found without
# pyenv on PATH), else `pythonX.Y` on PATH. Override with PYTHON=/path/to/python3.12.
# Extras to install: EXTRAS=test (default) or e.g. EXTRAS=test,cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.credsim-setup"
EXTRAS="${EXTRAS:-test}"
want="$(tr -d '[:space:]' < .python-version)"   # e.g. 3.12.1
minor="${want%.*}"                              # e.g. 3.12

# What the install depends on: if none of it changed, there is nothing to do.
key="python=$want extras=$EXTRAS $(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
# A venv made here: its console scripts (pip) start with "#!<this .venv>/bin/python". One copied or
# committed from another directory runs, but its scripts and editable install point elsewhere.
made_here() {
    local sb
    [ -x "$VENV/bin/python" ] && [ -f "$VENV/bin/pip" ] || return 1
    sb="$(head -n1 "$VENV/bin/pip")"
    sb="${sb#\#!}"
    [ "$(cd "$(dirname "$sb")" 2>/dev/null && pwd -P)" = "$(cd "$VENV/bin" && pwd -P)" ]
}

if made_here && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ]; then
    touch "$STAMP"   # keep make's timestamp check quiet
    exit 0
fi

find_python() {
    local c
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for c in "${PYENV_ROOT:-$HOME/.pyenv}/versions/$want/bin/python$minor" \
             "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/$want/bin/python$minor"; do
        if [ -x "$c" ]; then echo "$c"; return; fi
    done
    if command -v "python$minor" >/dev/null 2>&1; then command -v "python$minor"; return; fi
    echo "setup: no Python $want found (looked in pyenv and for python$minor on PATH); install it with 'pyenv install $want'" >&2
    exit 1
}

if [ -e "$VENV" ] && ! made_here; then
    py="$(find_python)"
    echo "setup: $VENV was not made in this directory, or is broken: rebuilding it with $py"
    "$py" -m venv --clear "$VENV"
elif [ -x "$VENV/bin/python" ]; then
    have="$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || echo broken)"
    if [ "${have%.*}" != "$minor" ]; then
        echo "setup: $VENV holds Python $have, this project needs $want; remove $VENV and run again" >&2
        exit 1
    fi
    [ "$have" = "$want" ] || echo "setup: note: $VENV has Python $have, .python-version asks for $want" >&2
else
    py="$(find_python)"
    echo "setup: creating $VENV with $py ($("$py" -V 2>&1))"
    "$py" -m venv "$VENV"
fi

echo "setup: installing credsim[$EXTRAS] pinned by requirements.lock (a minute or two the first time)"
start=$SECONDS
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e ".[$EXTRAS]"
"$VENV/bin/python" -c 'import sim'
echo "$key" > "$STAMP"
echo "setup: done in $((SECONDS - start)) s"

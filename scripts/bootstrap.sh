#!/usr/bin/env bash
# Create/refresh the project virtualenv (.venv) from requirements.lock.
#
#   bash scripts/bootstrap.sh                 # set up .venv (no-op if up to date)
#   bash scripts/bootstrap.sh --print-python  # only print the Python >= 3.12 it would use
#
# Interpreter search order: $GRIDSIM_PYTHON; python3.13, python3.12, python3, python on
# PATH; pyenv versions; /usr/local/bin; /opt/homebrew/bin; `uv python find`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.gridsim-stamp"

# True if "$1" runs and is Python >= 3.12 (pyenv shims exist but may fail: silence them).
is_ok_python() {
    [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info < (3,12))' >/dev/null 2>&1
}

find_python() {
    local cand root
    if [ -n "${GRIDSIM_PYTHON:-}" ]; then
        if is_ok_python "$GRIDSIM_PYTHON"; then
            printf '%s\n' "$GRIDSIM_PYTHON"
            return 0
        fi
        echo "gridsim: GRIDSIM_PYTHON=$GRIDSIM_PYTHON is not a working Python >= 3.12" >&2
        return 2
    fi
    for cand in python3.13 python3.12 python3 python; do
        if cand=$(command -v "$cand" 2>/dev/null) && is_ok_python "$cand"; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    root=$(pyenv root 2>/dev/null) || root=""
    local -a globs=()
    shopt -s nullglob
    if [ -n "$root" ]; then
        globs+=("$root"/versions/3.1[2-9]*/bin/python3)
    fi
    globs+=("$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3)
    globs+=(/usr/local/bin/python3.1[2-9] /opt/homebrew/bin/python3.1[2-9])
    shopt -u nullglob
    for cand in "${globs[@]}"; do
        if is_ok_python "$cand"; then
            printf '%s\n' "$cand"
            return 0
        fi
    done
    if command -v uv >/dev/null 2>&1; then
        cand=$(uv python find '>=3.12' 2>/dev/null) || cand=""
        if is_ok_python "$cand"; then
            printf '%s\n' "$cand"
            return 0
        fi
    fi
    return 1
}

# $1: exit status of find_python (2 = bad GRIDSIM_PYTHON, already reported).
no_python() {
    [ "${1:-1}" -eq 2 ] && exit 1
    echo "gridsim needs Python >= 3.12; none found. Install one (e.g. \`pyenv install 3.12\` or your package manager) or set GRIDSIM_PYTHON=/path/to/python3.12" >&2
    exit 1
}

inputs_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1
    else
        cat requirements.lock pyproject.toml | shasum -a 256 | cut -d' ' -f1
    fi
}

if [ "${1:-}" = "--print-python" ]; then
    find_python || no_python $?
    exit 0
fi

want=$(inputs_hash)

# Fast path: nothing changed since the last successful install.
if is_ok_python "$VENV/bin/python" && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi

py=$(find_python) || no_python $?
pyver=$("$py" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
echo "setting up $VENV with $py ($pyver)..." >&2

export PIP_DISABLE_PIP_VERSION_CHECK=1
rm -rf "$VENV"
"$py" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -r requirements.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .
printf '%s\n' "$want" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"

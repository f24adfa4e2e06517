"""Where a result comes from: the versions of the packages that made it, and the git commit.

Apart from :mod:`sim.api` so that an experiment's driver can write its manifest without
importing the model.
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("gridsim", "mesa", "numpy", "pandas", "scipy", "matplotlib", "pyarrow", "pydantic")


def package_versions() -> dict[str, str | None]:
    """The installed version of each of :data:`PACKAGES` (None if it is not installed)."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str | None], ...]:
    # cached: they cannot change while the process runs, and a sweep's worker asks every run
    out = []
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return tuple(out)


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the package runs from, if it is one (cached: a sweep's
    worker asks every run)."""
    out = _git("rev-parse", "HEAD")
    return out.strip() or None if out is not None else None


@functools.cache
def git_dirty() -> bool | None:
    """Whether the model's sources (``sim/``, the lock file, pyproject.toml) differ from that
    commit, so that it alone does not say what made a result; None outside a checkout."""
    out = _git("status", "--porcelain", "--", "sim", "requirements.lock", "pyproject.toml")
    return bool(out.strip()) if out is not None else None


def _git(*args: str) -> str | None:
    """git's output in the checkout the package runs from; None if it does not run from one
    (an installed copy inside some other repository is not that repository's code)."""
    root = Path(__file__).resolve().parent.parent
    top = _run_git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != root:
        return None
    return _run_git(root, *args)


def _run_git(root: Path, *args: str) -> str | None:
    try:
        # no optional locks: a status must not take the index's lock from the user's own git
        out = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None

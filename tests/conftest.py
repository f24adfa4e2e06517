"""Shared test configuration: Hypothesis profiles and a headless Matplotlib backend.

Choose a profile with ``HYPOTHESIS_PROFILE=ci`` (derandomised, more examples) or the default
``dev`` (fewer examples, for quick local runs).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=10, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

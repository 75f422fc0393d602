"""Shared fixtures and test policy.

With NNCODEC_NO_SKIP=1 (CI), a skipped test fails the session: every test must run. Nothing is
downloaded (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The transformers models of the tests are built here: nothing may be fetched from the Hub (read
# when huggingface_hub is imported, so set before any test module imports it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

settings.register_profile(
    "default", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
# CI: the same examples on every run, so a landing is not decided by luck; run the default
# profile locally (or several seeds) to search further.
settings.register_profile(
    "ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("NNCODEC_NO_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"NNCODEC_NO_SKIP=1: {len(skipped)} test(s) were skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

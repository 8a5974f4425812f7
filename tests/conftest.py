"""Shared test setup: engine tests are marked, and skipped loudly only where
no engine exists. In CI (CI=true) a missing engine is an error, not a skip."""

import os
import shutil
import subprocess

import pytest

IN_CI = os.environ.get("CI") == "true"


def _engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def pytest_collection_modifyitems(config, items):
    engine_items = [item for item in items if "engine" in item.keywords]
    if not engine_items or _engine_answers():
        return
    if IN_CI:
        raise pytest.UsageError("CI=true but no Docker engine answers: integration tests cannot run")
    skip = pytest.mark.skip(reason="NO DOCKER ENGINE: integration test not run")
    for item in engine_items:
        item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if any("NO DOCKER ENGINE" in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_line(
            "WARNING: integration tests were skipped: no Docker engine answered.", red=True, bold=True
        )

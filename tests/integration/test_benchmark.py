"""The benchmark's smallest scenario as a smoke test: it runs from this
checkout and its figures hang together. No timing is asserted."""

import json
import sys

import pytest

from .conftest import REPO, sh

pytestmark = pytest.mark.engine


def test_smallest_scenario_and_parser(tmp_path):
    figures_file, chart = tmp_path / "figures.json", tmp_path / "pushed.svg"
    result = sh(
        [
            sys.executable,
            "scripts/benchmark.py",
            "--scenario",
            "sample",
            "--scenario",
            "parser",
            "--parser-lines",
            "20000",
            "--json",
            str(figures_file),
            "--svg",
            str(chart),
        ],
        REPO,
    )
    assert "naive" in result.stdout and "target:" in result.stdout
    figures = json.loads(figures_file.read_text())
    sample, parser = figures["results"]
    assert sample["processed"]["bytes"] < 1024
    assert sample["naive"]["bytes"] > 16_000_000
    assert sample["floor_bytes"] <= sample["processed"]["bytes"]
    assert sample["pushed"]["processed"] < sample["pushed"]["naive"]
    assert all(isinstance(met, bool) for met in sample["targets"].values())
    # OLD only in the registry: the first run builds OLD's index from its layers, the second finds it.
    built, found = sample["registry_only"]["index_built"], sample["registry_only"]["index_found"]
    assert built["old_layer_bytes_read"] > 16_000_000 and found["old_layer_bytes_read"] == 0
    assert found["downloaded_bytes"] < 0.01 * sample["old_bytes"] < built["downloaded_bytes"]
    assert parser["lines"] == 20000
    assert chart.read_text().startswith("<svg")

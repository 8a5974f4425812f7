"""The benchmark's smallest scenario as a smoke test, on each image store: it
runs from this checkout, its JSON follows its schema, its figures hang
together, and the README table and chart are rendered from them. No timing
is asserted."""

import json
import shutil
import sys

import jsonschema
import pytest

from .conftest import REPO, sh

# Once in CI: the script's scenarios and parser; its figures per store come
# from runs by hand on each (scripts/benchmark-both-stores.sh).
pytestmark = [pytest.mark.engine, pytest.mark.once]


def test_smallest_scenario_and_parser(tmp_path, image_store):
    figures_file, chart, readme = tmp_path / "figures.json", tmp_path / "pushed.svg", tmp_path / "README.md"
    shutil.copy(REPO / "docs" / "benchmark.md", readme)  # the page with the table's markers
    result = sh(
        [
            sys.executable,
            "scripts/benchmark.py",
            "--scenario",
            "sample",
            "--case",
            "fresh",
            "--scenario",
            "parser",
            "--parser-lines",
            "20000",
            "--json",
            str(figures_file),
            "--svg",
            str(chart),
            "--readme",
            str(readme),
        ],
        REPO,
    )
    assert "naive rebuild" in result.stdout and "goal:" in result.stdout
    document = json.loads(figures_file.read_text())
    schema = json.loads((REPO / "docs" / "schemas" / "benchmark.schema.json").read_text())
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    sample, parser = document["rows"]
    assert sample["store"] == parser["store"] == image_store
    ways = sample["ways"]
    naive = ways["naive"]
    assert naive["bytes"] > 16_000_000 and naive["pushed_bytes"] > 16_000_000
    # A node that has OLD pulls the whole new layer of the naive image, a few KB of the kit's
    # (not measurable on containerd's store, where removed images' snapshots stay).
    pulled = {way: figures["pulled_bytes"] for way, figures in ways.items() if figures["applies"]}
    if image_store == "classic":
        assert pulled["naive"] > 16_000_000
    else:
        assert set(pulled.values()) == {None}
    for way in ("kit_dockerfile", "kit_layer", "kit_push", "kit_registry_only"):
        assert ways[way]["pushed_bytes"] < 50_000, way
        assert image_store != "classic" or 0 < pulled[way] < 50_000, way
        assert ways[way]["peak_rss_mib"] > 0, way
    for way in ("kit_dockerfile", "kit_layer"):
        assert sample["floor_bytes"] <= ways[way]["bytes"] < 1024, way
    # OLD only in the registry: the first run builds OLD's index from its layers, the second finds it.
    registry_only = ways["kit_registry_only"]
    assert registry_only["index_built"]["old_layer_bytes_read"] > 16_000_000
    assert registry_only["old_layer_bytes_read"] == 0
    assert registry_only["downloaded_bytes"] < 0.01 * sample["old_bytes"]
    assert all(isinstance(goal["met"], bool) for goal in sample["goals"].values())
    assert parser["lines"] == 20000
    assert chart.read_text().startswith("<svg")
    table = readme.read_text().split("<!-- benchmark:start -->")[1].split("<!-- benchmark:end -->")[0]
    assert "kit, layer method" in table and f"{naive['pushed_bytes']:,}" in table

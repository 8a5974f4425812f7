"""The benchmark's rendering (scripts/benchmark_report.py) on rows shaped as the
schema says: the README table between its markers, the chart, the goals."""

import json
import sys
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import benchmark_report  # noqa: E402

STAMP = {
    "date": "2026-11-30",
    "engine": "26.1.5",
    "store": "containerd",
    "commit": "abcdef123456",
    "machine": "2 cores",
}


def way(pushed, pulled, **extra):
    return {
        "applies": True,
        "layers": 1,
        "bytes": pushed,
        "pushed_bytes": pushed,
        "pulled_bytes": pulled,
        "to_pushed_seconds": 1.5,
        **extra,
    }


def rows():
    ways = {
        "naive": way(16_786_339, 16_790_000, build_seconds=0.7),
        "copy_link": {"applies": False, "why": "BuildKit 0.8 has no --link"},
        "kit_dockerfile": way(5_567, 4_000, peak_rss_mib=40.0),
        "kit_layer": way(5_000, 3_900, peak_rss_mib=41.0),
        "kit_push": way(4_900, 3_800, peak_rss_mib=42.0),
        "kit_registry_only": {**way(4_800, 3_700, peak_rss_mib=43.0), "bytes": None},
    }
    sample = {
        **STAMP,
        "scenario": "sample",
        "title": "walkthrough sample (16 MiB)",
        "case": "fresh",
        "tree_bytes": 16_777_451,
        "old_bytes": 16_777_000,
        "old_pull_seconds": 0.5,
        "floor_bytes": 206,
        "floor_compressed_bytes": 150,
        "changed_entries": 3,
        "ways": ways,
        "goals": {"kit peak memory < 100 MB": {"figure": 43.0, "met": True}},
    }
    parser = {
        **STAMP,
        "scenario": "parser",
        "title": "parser",
        "case": "",
        "lines": 20000,
        "seconds": 0.1,
        "lines_per_second": 200000,
        "peak_rss_mib": 20.0,
        "goals": {"parser >= 250,000 lines/s": {"figure": 200000, "met": False}},
    }
    return [sample, parser]


def test_rows_follow_the_schema_and_render(tmp_path):
    schema = json.loads((REPO / "docs" / "schemas" / "benchmark.schema.json").read_text())
    jsonschema.validate({"schema": "io.github.difflayers.benchmark", "version": 2, "rows": rows()}, schema)
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- benchmark:start -->\nold table\n<!-- benchmark:end -->\nafter\n")
    benchmark_report.rewrite_readme(readme, rows())
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old table" not in text
    assert "| 16,786,339 | 16,790,000 |" in text and "n/a: BuildKit 0.8 has no --link" in text
    assert "Docker 26.1.5, containerd" in text and "commit abcdef123456" in text
    assert "parser >= 250,000 lines/s: 200,000, **not met**" in text
    chart = tmp_path / "chart.svg"
    benchmark_report.write_svg(rows(), chart)
    assert chart.read_text().count("<rect") == 5  # the five ways that apply


def test_a_run_through_a_link_has_its_own_table_and_says_so(tmp_path):
    schema = json.loads((REPO / "docs" / "schemas" / "benchmark.schema.json").read_text())
    linked = [{**row, "link_mb_per_s": 100} for row in rows()]
    jsonschema.validate({"schema": "io.github.difflayers.benchmark", "version": 2, "rows": linked}, schema)
    doc = tmp_path / "benchmark.md"
    doc.write_text(
        "<!-- benchmark:start -->\nloopback table\n<!-- benchmark:end -->\n"
        "<!-- benchmark-link:start -->\nold link table\n<!-- benchmark-link:end -->\n"
    )
    benchmark_report.rewrite_readme(doc, linked)
    text = doc.read_text()
    assert "loopback table" in text and "old link table" not in text
    assert "Docker 26.1.5, containerd, 100 MB/s link" in text and "docs/benchmark-link.json" in text
    benchmark_report.rewrite_readme(doc, rows())
    assert "loopback table" not in doc.read_text() and "100 MB/s link" in doc.read_text()


def test_a_row_without_its_stamp_is_refused():
    schema = json.loads((REPO / "docs" / "schemas" / "benchmark.schema.json").read_text())
    sample = rows()[0]
    del sample["store"]
    try:
        jsonschema.validate(
            {"schema": "io.github.difflayers.benchmark", "version": 2, "rows": [sample]}, schema
        )
    except jsonschema.ValidationError:
        return
    raise AssertionError("a row without its store passed")

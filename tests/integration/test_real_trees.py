"""Real trees: a Python virtual environment installed by pip from PyPI, as most
application images are built (no SOURCE_DATE_EPOCH: every `.py` gets a new
mtime, every timestamp-based `.pyc` new bytes).

The revision upgrades requests 2.31.0 -> 2.32.3 (and, for a Node tree from
the npm registry, express 4.18.2 -> 4.19.2). The processed image must
behave as NEW: importing every module with ``python -v`` finds no stale
byte-code. Its files are compared with NEW's by ``independent.py`` (bytes
8-11 of a `.pyc`, the embedded source mtime, masked: the kit's default keeps
OLD's equivalent byte-code), and its delta must be within 2x of the
reproducible build's.

Containers reach PyPI only when they trust the machine's CA bundle: it is
copied into a builder stage and left out of the final image.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import sh
from .independent import config_differences, tree_differences

pytestmark = pytest.mark.engine
CLI = [sys.executable, "-m", "difflayers"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE = "difflayers-test-python:base"
PINS = "urllib3==2.2.3 idna==3.10 certifi==2024.8.30 charset-normalizer==3.4.0"
REVISIONS = {"1": "requests==2.31.0", "2": "requests==2.32.3"}
EPOCH = "1700000000"

BASE_DOCKERFILE = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \\
 && rm -rf /var/lib/apt/lists/*
"""
VENV_DOCKERFILE = """FROM {base} AS build
COPY ca.crt /ca.crt
{epoch}
RUN python3 -m venv /app/venv && /app/venv/bin/pip install --no-cache-dir --cert /ca.crt {pins}
FROM {base}
COPY --from=build /app /app
CMD ["/app/venv/bin/python", "-c", "import requests; print(requests.__version__)"]
"""

# Imports every module under site-packages (but __main__ ones) with -v; the
# caller counts "bytecode is stale" lines. A module that fails to import
# (an optional dependency missing) is skipped: its byte-code was read first.
IMPORT_ALL = r"""
import importlib, pathlib, sys
site = next(p for p in map(pathlib.Path, sys.path) if p.name == "site-packages")
for path in sorted(site.rglob("*.py")):
    parts = path.relative_to(site).with_suffix("").parts
    if "__main__" in parts or any("-" in p or "." in p for p in parts):
        continue
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    try:
        importlib.import_module(name)
    except BaseException:
        pass
"""


def stale_bytecode(image: str) -> int:
    """How many byte-code files Python finds stale importing every module of ``image``."""
    result = sh(
        ["docker", "run", "--rm", "--network", "none", image, "/app/venv/bin/python", "-v", "-c", IMPORT_ALL],
        ".",
    )
    return sum("bytecode is stale" in line for line in result.stderr.splitlines())


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    """Tags of revisions 1 and 2, built plain and reproducibly: {(kind, revision): tag}."""
    if not CA_BUNDLE.is_file():
        pytest.fail(f"{CA_BUNDLE} is missing: containers cannot trust PyPI without it")
    tmp = tmp_path_factory.mktemp("venvs")
    (tmp / "base").mkdir()
    (tmp / "base" / "Dockerfile").write_text(BASE_DOCKERFILE)
    sh(["docker", "build", "-q", "-t", BASE, "."], tmp / "base")
    tags = {}
    for kind, epoch in (("plain", ""), ("reproducible", f"ENV SOURCE_DATE_EPOCH={EPOCH}")):
        for revision, requests in REVISIONS.items():
            context = tmp / f"{kind}-{revision}"
            context.mkdir()
            shutil.copy(CA_BUNDLE, context / "ca.crt")
            (context / "Dockerfile").write_text(
                VENV_DOCKERFILE.format(base=BASE, epoch=epoch, pins=f"{requests} {PINS}")
            )
            tag = f"difflayers-test-venv:{kind}-{revision}"
            sh(["docker", "build", "-q", "-t", tag, "."], context)
            tags[kind, revision] = tag
    yield tags
    sh(["docker", "image", "rm", "-f", *tags.values()], ".", check=False)


def optimize(old: str, new: str, tag: str, *extra) -> dict:
    result = sh([*CLI, "optimize", old, new, "--path", "/app", "-t", tag, "--json", *extra], ".")
    return json.loads(result.stdout)


def by_cause(summary: dict) -> dict:
    return {row["cause"]: row for row in summary["by_cause"]}


def test_a_venv_upgrade_ships_little_and_behaves_as_new(venvs):
    old, new = venvs["plain", "1"], venvs["plain", "2"]
    assert stale_bytecode(new) == 0, "NEW itself has stale byte-code: the test's build is wrong"
    plain = optimize(old, new, "difflayers-test-venv:plain-2-processed")
    again = "difflayers-test-venv:reproducible-2-processed"
    reproducible = optimize(venvs["reproducible", "1"], venvs["reproducible", "2"], again)
    processed = "difflayers-test-venv:plain-2-processed"
    try:
        assert plain["verified"] and "equivalent" in plain["equality"]
        noise = by_cause(plain)["byte-code source mtime"]
        # Hundreds of .pyc files differ only in the build time they embed: left out.
        assert noise["entries"] > 100 and not noise["shipped"]
        assert plain["equivalent_bytecode"] == noise["entries"]
        assert plain["bytes_added"] <= 2 * reproducible["bytes_added"], (plain, reproducible)
        assert plain["bytes_added"] < plain["naive_bytes"] / 10
        # Behaves as NEW: no stale byte-code; files equal but for masked byte-code mtimes.
        assert stale_bytecode(processed) == 0
        assert tree_differences(new, processed, mask_pyc_mtime=True) == []
        assert config_differences(new, processed) == []
        run = sh(["docker", "run", "--rm", "--network", "none", processed], ".").stdout.strip()
        assert run == "2.32.3"
        # verify says what it compared and lists each equivalent entry.
        said = sh([*CLI, "verify", new, processed, "--path", "/app", "--json"], ".")
        verdict = json.loads(said.stdout)
        assert verdict["equal"] and len(verdict["equivalent_bytecode"]) == plain["equivalent_bytecode"]
        listed = verdict["equivalent_bytecode"]
        assert all(name.endswith(".pyc") and "/__pycache__/" in name for name in listed)
        strict = sh([*CLI, "verify", new, processed, "--path", "/app", "--byte-exact"], ".", check=False)
        assert strict.returncode == 1 and "byte-exact" in strict.stdout
    finally:
        sh(["docker", "image", "rm", "-f", processed, again], ".", check=False)


def test_byte_exact_ships_new_byte_code_with_its_sources(venvs):
    old, new = venvs["plain", "1"], venvs["plain", "2"]
    processed = "difflayers-test-venv:plain-2-byte-exact"
    try:
        summary = optimize(old, new, processed, "--byte-exact")
        causes = by_cause(summary)
        assert causes["byte-code source mtime"]["shipped"]
        sources = causes["sources shipped for their byte-code"]["entries"]
        assert sources >= causes["byte-code source mtime"]["entries"]
        assert summary["verified"] and summary["equivalent_bytecode"] == 0
        assert tree_differences(new, processed) == []
        assert stale_bytecode(processed) == 0
    finally:
        sh(["docker", "image", "rm", "-f", processed], ".", check=False)


NODE_BASE = "difflayers-test-node:base"
NODE_BASE_DOCKERFILE = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
"""
NODE_DOCKERFILE = """FROM {base} AS build
COPY ca.crt /ca.crt
WORKDIR /app
RUN npm config set cafile /ca.crt && echo '{{"name":"app","version":"1.0.0"}}' > package.json \\
 && npm install --no-audit --no-fund {packages}
FROM {base}
COPY --from=build /app /app
WORKDIR /app
CMD ["node", "-e", "console.log(require('express/package.json').version)"]
"""
NODE_REVISIONS = {"1": "express@4.18.2", "2": "express@4.19.2"}


@pytest.fixture(scope="module")
def node_trees(tmp_path_factory):
    """node_modules of express and two more, revision 2 a minor upgrade: {revision: tag}."""
    tmp = tmp_path_factory.mktemp("node")
    (tmp / "base").mkdir()
    (tmp / "base" / "Dockerfile").write_text(NODE_BASE_DOCKERFILE)
    sh(["docker", "build", "-q", "-t", NODE_BASE, "."], tmp / "base")
    tags = {}
    for revision, express in NODE_REVISIONS.items():
        context = tmp / revision
        context.mkdir()
        shutil.copy(CA_BUNDLE, context / "ca.crt")
        packages = f"{express} lodash@4.17.21 left-pad@1.3.0"
        (context / "Dockerfile").write_text(NODE_DOCKERFILE.format(base=NODE_BASE, packages=packages))
        tags[revision] = f"difflayers-test-node:{revision}"
        sh(["docker", "build", "-q", "-t", tags[revision], "."], context)
    yield tags
    sh(["docker", "image", "rm", "-f", *tags.values()], ".", check=False)


def test_a_node_upgrade_ships_its_files_only(node_trees):
    """npm's noise is mtimes alone (left out already): only the upgrade's files ship."""
    old, new = node_trees["1"], node_trees["2"]
    processed = "difflayers-test-node:2-processed"
    try:
        summary = optimize(old, new, processed)
        causes = by_cause(summary)
        assert set(causes) <= {"content", "unchanged content, new mtime"}, causes
        assert summary["verified"] and summary["bytes_added"] < summary["naive_bytes"] / 5
        assert tree_differences(new, processed) == [] and config_differences(new, processed) == []
        run = sh(["docker", "run", "--rm", "--network", "none", processed], ".").stdout.strip()
        assert run == "4.19.2"
    finally:
        sh(["docker", "image", "rm", "-f", processed], ".", check=False)

"""Fourteen revisions of the sample, each processed against the last processed
image, as a deploy pipeline would: every result equal to its NEW, the layer
count held under the limit the policy sets, rebases where it says, and the
superseded bytes the chain records checked against the files themselves."""

import hashlib
import json
import sys

import pytest

from .conftest import sh
from .independent import config_differences, inspect, tree_differences

# Runs on the first engine only in CI: the policy decides on bytes and layer
# counts; each store runs optimize and report in the other tests.
pytestmark = [pytest.mark.engine, pytest.mark.once]
REVISIONS = 14
# A tight layer policy so that a short chain meets it (at most 10 layers: 4
# deltas of the Dockerfile method on the sample's 2), and a superseded share
# of 0.7 (a rebase on the base is taken while its delta supersedes under 35%
# of the tree). The sample's large files are rewritten every 4th revision:
# the layer limit is met at revisions 6 and 10 with the base close enough
# (rebase on the base), and at 14 with it too far behind (NEW as built);
# revision 15 is a delta on that. Measured on Docker 20.10.24, classic
# (30 revisions and a 20-layer limit before, 2.4x the time).
MIN_LAYERS_LEFT = 115
LAYER_CAP = 125 - MIN_LAYERS_LEFT
POLICY = ["--min-layers-left", str(MIN_LAYERS_LEFT), "--max-superseded-share", "0.7"]


def snapshot(folder) -> dict:
    """name -> (size, sha256) of the sample's files, read here, not by the kit."""
    return {
        p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in folder.iterdir()
        if p.is_file()
    }


def superseded(before: dict, after: dict) -> int:
    """Bytes of files in ``before`` that ``after`` changed or removed."""
    return sum(size for name, (size, digest) in before.items() if after.get(name, (None, None))[1] != digest)


def optimize(kit, old, new, tag, *extra):
    result = sh(
        [
            sys.executable,
            "-m",
            "difflayers",
            "--quiet",
            "optimize",
            old,
            new,
            "--path",
            "/app",
            "-t",
            tag,
            "--json",
        ]
        + [*extra],
        kit,
        check=False,
    )
    assert result.returncode in (0, 3), result.stderr
    summary = json.loads(result.stdout)
    rebased = summary["chain"]["decision"] != "delta"
    assert result.returncode == (3 if rebased and "--rebase-ok" not in extra else 0)
    return summary


def test_revisions_chained_through_every_decision(kit, unique):
    project = kit / "sample-project"
    project.mkdir(exist_ok=True)
    sh(["bash", "scripts/generate-sample-project.sh"], kit)
    tags = [f"{unique}:1"]
    sh(["docker", "build", "-q", "-t", tags[0], "."], project)
    base_id = inspect(tags[0])["Id"]
    first = previous = snapshot(project)
    processed = tags[0]
    decisions = []
    try:
        for revision in range(2, REVISIONS + 2):
            sh(["bash", "scripts/modify-sample-project.sh", str(revision)], kit)
            now = snapshot(project)
            new, out = f"{unique}:{revision}", f"{unique}:{revision}-processed"
            tags += [new, out]
            sh(["docker", "build", "-q", "-t", new, "."], project)
            summary = optimize(kit, processed, new, out, *POLICY)
            chain = summary["chain"]
            decisions.append(chain["decision"])
            assert tree_differences(new, out) == [], revision
            assert config_differences(new, out) == [], revision
            layers = len(inspect(out)["RootFS"]["Layers"])
            assert layers == chain["layers"] <= LAYER_CAP
            if chain["decision"] == "rebase-new":
                # Even one delta on the base would carry too many dead bytes:
                # NEW as built is the image, and the base of the chains to come.
                assert inspect(out)["Id"] == inspect(new)["Id"]
                assert chain["depth"] == 0 and any("superseded" in r for r in chain["reasons"])
                base_id, first = inspect(new)["Id"], now
                processed, previous = out, now
                continue
            assert chain["base"] == base_id, revision
            labels = inspect(out)["Config"]["Labels"]
            record = json.loads(labels["io.github.difflayers.chain.revisions"])
            if chain["decision"] == "delta":
                assert record[-1][2] == superseded(previous, now), revision
            else:
                # One delta against the base: what it supersedes is measured from there.
                assert chain["decision"] == "rebase-base"
                assert any("before the limit" in reason for reason in chain["reasons"])
                assert chain["depth"] == 1
                assert record[-1][2] == superseded(first, now), revision
            assert chain["superseded_bytes"] == sum(entry[2] for entry in record)
            processed, previous = out, now
        # Deltas until a limit of the policy, then rebases: on the base, and on
        # NEW as built once the base is too far behind.
        print("decisions:", decisions)
        assert decisions[0] == "delta"
        assert decisions.count("rebase-base") >= 2 and "rebase-new" in decisions
        report = json.loads(
            sh([sys.executable, "-m", "difflayers", "report", processed, "--new", new, "--json"], kit).stdout
        )
        assert report["depth"] == len(report["revisions"]) == chain["depth"]
        assert report["fresh_pull_bytes"] >= report["new_as_built_pull_bytes"]

        # Rebasing on NEW as built: the tag is NEW itself, and the exit status says so.
        sh(["bash", "scripts/modify-sample-project.sh", str(REVISIONS + 2)], kit)
        new, out = f"{unique}:last", f"{unique}:last-processed"
        tags += [new, out]
        sh(["docker", "build", "-q", "-t", new, "."], project)
        summary = optimize(kit, processed, new, out, "--max-deltas", "1", "--rebase-to", "new", "--rebase-ok")
        assert summary["chain"]["decision"] == "rebase-new"
        assert inspect(out)["Id"] == inspect(new)["Id"]
    finally:
        sh(["docker", "image", "rm", "-f", *tags], kit, check=False)

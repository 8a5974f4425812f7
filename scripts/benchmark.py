#!/usr/bin/env python3
"""The naive rebuild against the kit, side by side, measured in one run.

    .venv/bin/python scripts/benchmark.py                     # every scenario
    .venv/bin/python scripts/benchmark.py --scenario sample   # one of them
    .venv/bin/python scripts/benchmark.py --json figures.json --svg pushed.svg

Each scenario builds OLD and NEW from a fixed seed (``FROM debian:bookworm-slim``
+ ``COPY app /app``), then ships NEW both ways: the naive way (``FROM OLD`` +
``COPY app /app``) and the kit's (``difflayers optimize``). It prints the
layers and bytes each adds above OLD, the floor (the changed files' own
bytes), what each push adds to a real registry (Debian's docker-registry on
loopback, measured as the growth of its storage), wall times, the kit's peak
memory and temporary disk, and whether the targets are met. Public tools
only: the docker CLI, docker-registry and this kit.
"""

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
TAG = "difflayers-bench"


@dataclass
class Tree:
    """Files of a scenario: relative name -> bytes, and what changed."""

    old: dict
    new: dict
    floor: int = 0  # bytes of NEW's files that differ from OLD's or are new


@dataclass
class Scenario:
    name: str
    title: str
    make: object
    targets: dict = field(default_factory=dict)


def _write(root: Path, files: dict) -> int:
    total = 0
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def sample_tree(rng: random.Random) -> Tree:
    """The walkthrough's sample: 3, 1, 4, 2 and 6 MiB incompressible files."""
    old = {f"an-important-file-{i}": rng.randbytes(m * MIB) for i, m in enumerate((3, 1, 4, 2, 6), start=1)}
    old.update(
        {
            "sample-1.code": b"some text contents\n",
            "sample-2.code": b"some more text contents\n",
            "sample-3.code": b"even some more text contents\n",
        }
    )
    new = dict(old)
    new["sample-1.code"] += b"adding some text to an existing file\n" * 4
    new["sample-4.code"] = b"added some text contents to a new file\n"
    del new["sample-2.code"]
    return Tree(old, new, len(new["sample-1.code"]) + len(new["sample-4.code"]))


def spread_tree(rng: random.Random, count: int, size: int, changed: int, added: int, removed: int) -> Tree:
    """``count`` files of ``size`` bytes in 100 folders; some changed, added, removed."""
    old = {f"d{i % 100:02d}/f{i:06d}.bin": rng.randbytes(size) for i in range(count)}
    new = dict(old)
    names = sorted(old)
    rng.shuffle(names)
    floor = 0
    for name in names[:changed]:
        new[name] = rng.randbytes(size)
        floor += size
    for name in names[changed : changed + removed]:
        del new[name]
    for i in range(added):
        new[f"added/n{i:04d}.bin"] = rng.randbytes(size)
        floor += size
    return Tree(old, new, floor)


SCENARIOS = {
    "sample": Scenario("sample", "walkthrough sample (16 MiB)", sample_tree, {"pushed_share": 0.001}),
    "gib": Scenario(
        "gib",
        "1 GiB in 10,000 files, 1% changed, 5 added, 5 removed",
        lambda rng: spread_tree(rng, 10_000, 107_374, 100, 5, 5),
        {"pushed_share": 0.02, "time_ratio": 1.0},
    ),
    "small": Scenario(
        "small",
        "100,000 files of 1 KiB, 10 changed",
        lambda rng: spread_tree(rng, 100_000, 1024, 10, 0, 0),
        {},
    ),
}


def sh(*args, cwd=None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def timed_build(context: Path, tag: str) -> float:
    started = time.monotonic()
    sh("docker", "build", "-q", "-t", tag, ".", cwd=context)
    return time.monotonic() - started


def added_above(image: str, base: str) -> tuple:
    """(layers, bytes of file content) ``image`` adds on ``base``, read from the
    layers themselves (``difflayers report``): ``docker history`` sizes are disk
    usage on containerd's image store."""
    report = sh(sys.executable, "-m", "difflayers", "-q", "report", image, "--base", base, "--json")
    figures = json.loads(report)
    return len(figures["layers"]), figures["bytes_added"]


class Registry:
    """docker-registry on a free loopback port, with storage of its own."""

    def __init__(self, root: Path):
        binary = shutil.which("docker-registry") or shutil.which("registry")
        self.proc = None
        if binary is None:
            return
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address, self.storage = f"127.0.0.1:{port}", root / "storage"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.storage}\n"
            f"http:\n  addr: {self.address}\n"
        )
        self.proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("docker-registry did not start")

    def stored(self) -> int:
        return (
            sum(p.stat().st_size for p in self.storage.rglob("*") if p.is_file())
            if self.storage.exists()
            else 0
        )

    def push_growth(self, image: str, name: str) -> int:
        remote = f"{self.address}/{TAG}:{name}"
        sh("docker", "tag", image, remote)
        before = self.stored()
        sh("docker", "push", remote)
        sh("docker", "image", "rm", remote)
        return self.stored() - before

    def close(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _peak_mib(pid: int) -> float:
    """The high-water mark of a live process's resident memory, in MiB.

    Read from /proc: VmHWM starts afresh at exec, unlike getrusage's maxrss,
    which would count the memory of this process it was forked from.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_kit(old: str, new: str, *where: str) -> dict:
    """``difflayers optimize OLD NEW --path /app WHERE...`` as a child process:
    wall time, peak memory, summary."""
    argv = [
        sys.executable,
        "-m",
        "difflayers",
        "--quiet",
        "optimize",
        old,
        new,
        "--path",
        "/app",
        *where,
        "--json",
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=KIT, stdout=out, stderr=err)
        peak = 0.0
        while proc.poll() is None:
            with contextlib.suppress(OSError):
                peak = max(peak, _peak_mib(proc.pid))
            time.sleep(0.05)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"difflayers optimize failed:\n{err.read().decode()}")
        return {**json.loads(out.read()), "wall_seconds": wall, "peak_rss_mib": round(peak, 1)}


def run_scenario(scenario: Scenario, base: str, work: Path, registry) -> dict:
    rng = random.Random(f"difflayers-benchmark-{scenario.name}")
    tree = scenario.make(rng)
    tags = {k: f"{TAG}:{scenario.name}-{k}" for k in ("old", "new", "naive", "processed")}
    contexts = {}
    for side in ("old", "new"):
        context = work / scenario.name / side
        (context / "app").mkdir(parents=True)
        _write(context / "app", getattr(tree, side))
        (context / "Dockerfile").write_text(f"FROM {base}\nCOPY app /app\n")
        contexts[side] = context
    tree_bytes = sum(len(d) for d in tree.new.values())
    # Children forked while this process holds the trees would count them
    # in their own peak memory; the files are on disk now.
    tree.old = tree.new = None
    print(f"\n## {scenario.title}: building OLD and NEW ...", file=sys.stderr, flush=True)
    timed_build(contexts["old"], tags["old"])
    new_build = timed_build(contexts["new"], tags["new"])
    (contexts["new"] / "Dockerfile.naive").write_text(f"FROM {tags['old']}\nCOPY app /app\n")
    # As a CI runner's fresh clone: every file with a new mtime. (containerd's
    # differ leaves out files whose content and mtime, to the second, are
    # unchanged; moby's never does.)
    for path in (contexts["new"] / "app").rglob("*"):
        os.utime(path, follow_symlinks=False)
    started = time.monotonic()
    sh("docker", "build", "-q", "-f", "Dockerfile.naive", "-t", tags["naive"], ".", cwd=contexts["new"])
    naive_build = time.monotonic() - started
    print(f"## {scenario.title}: the kit ...", file=sys.stderr, flush=True)
    kit = run_kit(tags["old"], tags["new"], "-t", tags["processed"], "--skip-verify")
    started = time.monotonic()
    sh(sys.executable, "-m", "difflayers", "verify", tags["new"], tags["processed"], "--path", "/app")
    verify_seconds = time.monotonic() - started
    figures = {
        "scenario": scenario.name,
        "title": scenario.title,
        "tree_bytes": tree_bytes,
        "floor_bytes": tree.floor,
        "old_bytes": added_above(tags["old"], base)[1],
        "changed_entries": kit["new"] + kit["changed"] + kit["removed"],
        "naive": dict(zip(("layers", "bytes"), added_above(tags["naive"], tags["old"]))),
        "processed": dict(zip(("layers", "bytes"), added_above(tags["processed"], tags["old"]))),
        "seconds": {
            "naive_build": round(naive_build, 1),
            "new_build": round(new_build, 1),
            "kit_pipeline": round(kit["wall_seconds"], 1),
            "kit_steps": kit["step_seconds"],
            "verify_under_app": round(verify_seconds, 1),
        },
        "kit_peak_rss_mib": kit["peak_rss_mib"],
        # The kit's volumes hold a copy of each tree while it runs.
        # Copies of both trees when the kit compared them in volumes; none when
        # BuildKit mounted them from the images.
        "kit_compared": kit["compared"],
        # Computed from what was copied, not sampled while it ran.
        "kit_temp_disk_bytes_computed": (2 * tree_bytes if kit["compared"] == "volumes" else 0)
        + kit["delta_bytes"],
    }
    if registry is not None and registry.proc:
        registry.push_growth(tags["old"], f"{scenario.name}-old")
        figures["pushed"] = {
            "naive": registry.push_growth(tags["naive"], f"{scenario.name}-naive"),
            "processed": registry.push_growth(tags["processed"], f"{scenario.name}-processed"),
        }
        figures["registry_only"] = run_registry_only(scenario, tags, registry)
    figures["targets"] = targets(scenario, figures)
    sh("docker", "image", "rm", *tags.values())
    shutil.rmtree(work / scenario.name)
    return figures


def run_registry_only(scenario: Scenario, tags: dict, registry) -> dict:
    """The kit on a runner without OLD: OLD only in the registry (as pushed by
    ``docker push``, so without a tree index: the first run builds it from OLD's
    layers and attaches it, the second finds it). Downloads are the bytes the
    registry answered the kit (its own count); pushed, the storage's growth."""
    print(f"## {scenario.title}: the kit with OLD only in the registry ...", file=sys.stderr, flush=True)
    old = f"{registry.address}/{TAG}:{scenario.name}-old"
    target = f"{registry.address}/{TAG}:{scenario.name}-remote"
    found = {}
    for case in ("index_built", "index_found"):
        before = registry.stored()
        kit = run_kit(old, tags["new"], "--push", target)
        found[case] = {
            "wall_seconds": round(kit["wall_seconds"], 1),
            "downloaded_bytes": kit["registry_bytes_downloaded"],
            "old_layer_bytes_read": kit["old_index"]["layer_bytes_read"] + kit["old_layer_bytes_read"],
            "new_tree_bytes_read": kit["new_bytes_read"],
            "new_reads": kit["new_reads"],
            "new_layer_bytes_read": kit["new_layer_bytes_read"],
            # The second run pushes what the first did (same OLD, same NEW): the
            # registry keeps each blob once, so only the first run's growth says anything.
            "pushed_bytes": registry.stored() - before if case == "index_built" else None,
            "peak_rss_mib": kit["peak_rss_mib"],
        }
    return found


def targets(scenario: Scenario, f: dict) -> dict:
    out = {
        "added bytes <= floor + 1 KiB per changed entry": f["processed"]["bytes"]
        <= f["floor_bytes"] + 1024 * max(1, f["changed_entries"])
    }
    if "pushed_share" in scenario.targets and "pushed" in f:
        share = scenario.targets["pushed_share"]
        out[f"pushed bytes <= {share:.1%} of naive"] = (
            f["pushed"]["processed"] <= share * f["pushed"]["naive"]
        )
    if "registry_only" in f and "old_bytes" in f:
        found = f["registry_only"]["index_found"]
        out["OLD only in the registry: downloads <= 1% of OLD (index found)"] = (
            found["downloaded_bytes"] <= 0.01 * f["old_bytes"]
        )
        out["OLD only in the registry: time <= 0.1x naive build (index found)"] = (
            found["wall_seconds"] <= 0.1 * f["seconds"]["naive_build"]
        )
    if "time_ratio" in scenario.targets:
        ratio = scenario.targets["time_ratio"]
        out[f"kit pipeline time <= {ratio}x naive build"] = (
            f["seconds"]["kit_pipeline"] <= ratio * f["seconds"]["naive_build"]
        )
    return out


ODD = ["plain.txt", " lead", "trail ", "tab\tname", "new\\#012line", "caf\\#303\\#251", "x -> y", "n" * 200]


def run_parser(lines: int, work: Path) -> dict:
    """Parse a generated itemized log of ``lines`` lines; lines/s and peak memory."""
    log = work / "itemized.log"
    rng = random.Random("difflayers-benchmark-parser")
    flags = [
        ">f+++++++++",
        ">fcst......",
        ".f...p.....",
        "cL+++++++++",
        "cd+++++++++",
        "hf+++++++++",
        "*deleting  ",
    ]
    with open(log, "wb") as handle:
        for i in range(lines):
            name = f"d{i % 1000}/{rng.choice(ODD)}-{i}"
            handle.write(f"{rng.choice(flags)} {name}\n".encode())
    code = (
        "import sys, time\n"
        "from difflayers.core.itemize import iter_lines, parse\n"
        "t = time.monotonic(); n = 0\n"
        "with open(sys.argv[1], 'rb') as f:\n"
        "    for _ in parse(iter_lines(f)): n += 1\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(n, time.monotonic() - t, hwm)\n"
    )
    out = sh(sys.executable, "-c", code, str(log), cwd=KIT).split()
    count, seconds, rss_kib = int(out[0]), float(out[1]), int(out[2])
    log.unlink()
    figures = {
        "scenario": "parser",
        "lines": count,
        "seconds": round(seconds, 2),
        "lines_per_second": round(count / seconds),
        "peak_rss_mib": round(rss_kib / 1024, 1),
    }
    figures["targets"] = {
        "peak memory < 100 MB": rss_kib * 1024 < 100_000_000,
        "at least 200,000 lines per second": count / seconds >= 200_000,
    }
    return figures


def _mb(n):
    return f"{n / 1e6:,.3f} MB" if n >= 1e5 else f"{n:,} B"


def print_table(results: list) -> None:
    print(f"\n{'':44}{'naive':>18}{'kit':>18}")
    for f in results:
        if f["scenario"] == "parser":
            print(
                f"\n{f['lines']:,}-line itemized log (parser alone): {f['lines_per_second']:,} lines/s, "
                f"peak {f['peak_rss_mib']} MiB"
            )
        else:
            print(f"\n{f['title']}")
            rows = [
                ("layers added above OLD", f["naive"]["layers"], f["processed"]["layers"]),
                ("bytes in those layers", _mb(f["naive"]["bytes"]), _mb(f["processed"]["bytes"])),
                ("floor: the changed files' bytes", "", _mb(f["floor_bytes"])),
            ]
            if "pushed" in f:
                rows.append(
                    (
                        "pushed to the registry after OLD",
                        _mb(f["pushed"]["naive"]),
                        _mb(f["pushed"]["processed"]),
                    )
                )
            s = f["seconds"]
            rows += [
                ("wall time (naive build | kit pipeline)", f"{s['naive_build']} s", f"{s['kit_pipeline']} s"),
                ("  kit steps", "", " ".join(f"{k} {v}s" for k, v in s["kit_steps"].items())),
                ("kit peak memory (its own process)", "", f"{f['kit_peak_rss_mib']} MiB"),
                ("kit temporary disk, computed (copies, delta)", "", _mb(f["kit_temp_disk_bytes_computed"])),
            ]
            for case, r in f.get("registry_only", {}).items():
                rows += [
                    (f"OLD only in the registry, {case.replace('_', ' ')}:", "", ""),
                    ("  wall time (kit, to pushed)", "", f"{r['wall_seconds']} s"),
                    ("  downloaded from the registry", "", _mb(r["downloaded_bytes"])),
                    ("  NEW's tree read (times)", "", f"{_mb(r['new_tree_bytes_read'])} ({r['new_reads']})"),
                    ("  OLD's layers read", "", _mb(r["old_layer_bytes_read"])),
                    (
                        "  pushed (image + tree indexes)",
                        "",
                        "as above" if r["pushed_bytes"] is None else _mb(r["pushed_bytes"]),
                    ),
                    ("  kit peak memory", "", f"{r['peak_rss_mib']} MiB"),
                ]
            for label, naive, kit in rows:
                print(f"  {label:42}{naive!s:>18}{kit!s:>18}")
        for target, met in f["targets"].items():
            print(f"  target: {target}: {'met' if met else 'NOT MET'}")


def write_svg(results: list, path: Path) -> None:
    """Bars of pushed bytes, naive against the kit, log scale, one pair per scenario."""
    import math

    rows = [f for f in results if "pushed" in f]
    width, bar, gap = 760, 18, 26
    height = 60 + len(rows) * (2 * bar + gap)
    top = max(max(f["pushed"]["naive"], f["pushed"]["processed"]) for f in rows) if rows else 1
    scale = lambda n: 10 + (width - 330) * math.log10(max(n, 1)) / math.log10(max(top, 10))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="20" font-size="14">'
        "Bytes pushed after OLD (log scale): naive rebuild vs difflayers</text>",
    ]
    y = 40
    for f in rows:
        parts.append(f'<text x="10" y="{y + bar}">{f["title"].split(", ")[0]}</text>')
        for i, (label, key, colour) in enumerate(
            (("naive", "naive", "#c0392b"), ("kit", "processed", "#27ae60"))
        ):
            n = f["pushed"][key]
            w = scale(n)
            parts.append(
                f'<rect x="250" y="{y + i * bar}" width="{w:.0f}" height="{bar - 3}" fill="{colour}"/>'
            )
            parts.append(f'<text x="{255 + w:.0f}" y="{y + i * bar + 12}">{label}: {_mb(n)}</text>')
        y += 2 * bar + gap
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "parser"],
        help="run only these (repeatable); default: all",
    )
    parser.add_argument("--parser-lines", type=int, default=1_000_000)
    parser.add_argument("--base", default="debian:bookworm-slim")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--svg", type=Path, help="draw pushed bytes, naive vs kit, here")
    args = parser.parse_args()
    chosen = args.scenario or [*SCENARIOS, "parser"]
    results = []
    with tempfile.TemporaryDirectory(prefix="difflayers-bench-") as tmp:
        work = Path(tmp)
        registry = Registry(work)
        try:
            for name in chosen:
                if name == "parser":
                    results.append(run_parser(args.parser_lines, work))
                else:
                    results.append(run_scenario(SCENARIOS[name], args.base, work, registry))
        finally:
            registry.close()
    print_table(results)
    machine = (
        f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    )
    stamp = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "engine": sh("docker", "version", "--format", "{{.Server.Version}}").strip(),
    }
    print(f"\n{stamp['date']}, {machine}, Docker engine {stamp['engine']}")
    if args.json:
        args.json.write_text(json.dumps({**stamp, "results": results}, indent=2) + "\n")
    if args.svg:
        write_svg(results, args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())

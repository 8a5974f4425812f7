"""The benchmark's rows as people read them: the terminal table, docs/benchmark.md's
table (between its benchmark markers) and the chart. Pure functions of the
rows in docs/benchmark.json (``scripts/benchmark.py`` writes them); nothing
here measures or adds a figure.
"""

import math
from pathlib import Path

WAYS = {
    "naive": "naive rebuild (FROM OLD + COPY)",
    "copy_link": "BuildKit COPY --link",
    "kit_dockerfile": "kit, Dockerfile method",
    "kit_layer": "kit, layer method",
    "kit_push": "kit, layer method + --push",
    "kit_push_indexed": "kit, --push, OLD's index beside it",
    "kit_registry_only": "kit, OLD only in the registry",
}
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def _n(value) -> str:
    return "" if value is None else f"{value:,}"


def _s(value) -> str:
    return "" if value is None else f"{value} s"


def _where(row: dict) -> str:
    return f"Docker {row['engine'].split('+')[0]}, {row['store']}{_link(row)}"


def _link(row: dict) -> str:
    """The link the registry was reached through; nothing for loopback (rows before it had none)."""
    return f", {row['link_mb_per_s']} MB/s link" if row.get("link_mb_per_s") else ""


def markers(rows: list) -> tuple:
    """Where a run's table goes in docs/benchmark.md: a run through a link has markers of its own,
    beside the loopback run's."""
    if any(row.get("link_mb_per_s") for row in rows):
        return "<!-- benchmark-link:start -->", "<!-- benchmark-link:end -->"
    return START, END


def _lines(row: dict) -> list:
    """One line per way: layers, bytes added, pushed, pulled, time to pushed, peak memory."""
    out = []
    for way, label in WAYS.items():
        f = row["ways"].get(way)
        if f is None:
            continue
        if not f["applies"]:
            out.append((label, "n/a: " + f["why"][:60], "", "", "", "", ""))
            continue
        out.append(
            (
                label,
                _n(f.get("layers")),
                _n(f.get("bytes")),
                _n(f["pushed_bytes"]),
                _n(f["pulled_bytes"]),
                _s(f["to_pushed_seconds"]),
                "" if f.get("peak_rss_mib") is None else f"{f['peak_rss_mib']} MiB",
            )
        )
    return out


HEADER = (
    "way",
    "layers",
    "bytes added",
    "pushed",
    "pulled by a node with OLD",
    "NEW built -> pushed",
    "kit peak",
)


def print_rows(rows: list) -> None:
    for row in rows:
        print(f"\n{row['title']}{', ' + row['case'] if row['case'] else ''} ({_where(row)}, {row['commit']})")
        if row["scenario"] == "parser":
            print(f"  {row['lines_per_second']:,} lines/s, peak {row['peak_rss_mib']} MiB")
        else:
            print(
                "  "
                + "".join(f"{h:>16}" if i else f"{h:34}" for i, h in enumerate(HEADER[:-2]))
                + "  time  peak"
            )
            for line in _lines(row):
                print("  " + "".join(f"{c!s:>16}" if i else f"{c:34}" for i, c in enumerate(line)))
            if row.get("old_pull_seconds") is not None:
                print(
                    f"  a runner without OLD first pulls it: {row['old_pull_seconds']} s "
                    "(its layers above the base)"
                )
        for goal, judged in row["goals"].items():
            print(f"  goal: {goal}: {judged['figure']:,} {'met' if judged['met'] else 'NOT MET'}")


def table(rows: list) -> str:
    """docs/benchmark.md's table: every scenario, case and store, every way."""
    out = [
        "| scenario, case | engine, store | " + " | ".join(HEADER) + " |",
        "|" + "---|" * (len(HEADER) + 2),
    ]
    for row in rows:
        if row["scenario"] == "parser":
            continue
        first = True
        for line in _lines(row):
            head = (f"{row['title']}, {row['case']}", _where(row)) if first else ("", "")
            out.append("| " + " | ".join((*head, *line)) + " |")
            first = False
    for row in rows:
        if row["scenario"] == "parser":
            out.append(
                f"\nParser alone ({_where(row)}): {row['lines']:,} lines at "
                f"{row['lines_per_second']:,} lines/s, peak {row['peak_rss_mib']} MiB."
            )
    return "\n".join(out)


def goals_list(rows: list) -> str:
    lines = []
    for row in rows:
        for goal, judged in row["goals"].items():
            where = (
                f"{row['scenario']}{', ' + row['case'] if row['case'] else ''}, {row['store']}{_link(row)}"
            )
            lines.append(
                f"- {where}: {goal}: {judged['figure']:,}, **{'met' if judged['met'] else 'not met'}**"
            )
    return "\n".join(lines)


def rewrite_readme(path: Path, rows: list) -> None:
    """Replace what is between the markers with the table from ``rows``."""
    text = path.read_text()
    start, end = markers(rows)
    if start not in text or end not in text:
        raise SystemExit(f"{path} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    stamps = sorted({(r["date"], r["commit"], r["machine"]) for r in rows})
    link = start != START
    source = "benchmark-link.json" if link else "benchmark.json"
    said = "; ".join(f"{d}, commit {c}, {m}" for d, c, m in stamps)
    body = (
        f"\n<!-- written by scripts/benchmark.py from docs/{source}; do not edit -->\n"
        f"One run ({said}). Bytes added: file content of the layers above OLD. Pushed: growth of the "
        "registry's storage. Pulled: bytes a node that has OLD downloads for the image, counted at a "
        "proxy. Time: from NEW built to pushed, OLD on the runner (a runner without it pulls it first, "
        "except with OLD only in the registry)"
        f"{'; the registry reached through a link held to that speed each way' if link else ''}.\n\n"
        f"{table(rows)}\n\nGoals, as the script judges them:\n\n{goals_list(rows)}\n"
    )
    path.write_text(head + start + body + end + tail)


def write_svg(rows: list, path: Path) -> None:
    """Bars of pushed bytes per way, log scale, one group per scenario, case and store."""
    groups = [r for r in rows if r["scenario"] != "parser"]
    colours = {
        "naive": "#c0392b",
        "copy_link": "#e67e22",
        "kit_dockerfile": "#2980b9",
        "kit_layer": "#27ae60",
        "kit_push": "#16a085",
        "kit_push_indexed": "#1abc9c",
        "kit_registry_only": "#8e44ad",
    }
    width, bar, gap = 860, 12, 22
    count = sum(1 for r in groups for w in WAYS if r["ways"].get(w, {}).get("applies"))
    height = 50 + count * bar + len(groups) * gap
    top = max(
        (r["ways"][w]["pushed_bytes"] for r in groups for w in WAYS if r["ways"].get(w, {}).get("applies")),
        default=10,
    )
    scale = lambda n: 5 + (width - 520) * math.log10(max(n, 1)) / math.log10(max(top, 10))  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        '<text x="10" y="20" font-size="14">Bytes pushed after OLD (log scale), every way, one run</text>',
    ]
    y = 40
    for row in groups:
        parts.append(f'<text x="10" y="{y + 9}">{row["scenario"]}, {row["case"]}, {row["store"]}</text>')
        for way, label in WAYS.items():
            f = row["ways"].get(way)
            if not f or not f["applies"]:
                continue
            w = scale(f["pushed_bytes"])
            parts.append(f'<rect x="330" y="{y}" width="{w:.0f}" height="{bar - 2}" fill="{colours[way]}"/>')
            parts.append(f'<text x="{335 + w:.0f}" y="{y + 9}">{label}: {f["pushed_bytes"]:,}</text>')
            y += bar
        y += gap
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")

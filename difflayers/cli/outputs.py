"""``python3 -m difflayers.cli.outputs SUMMARY``: an ``optimize --json`` summary
as GitHub Actions step outputs (``name=value`` lines for ``$GITHUB_OUTPUT``),
what the repository's ``action.yml`` gives its caller."""

import json
import sys


def outputs(summary: dict) -> dict:
    """pushed, bytes, verified, rebase: the action's outputs, from the summary."""
    chain = summary.get("chain") or {}
    return {
        "pushed": summary.get("pushed") or "",
        "bytes": summary.get("bytes_uploaded") or 0,
        "verified": "true" if summary.get("verified") else "false",
        "rebase": "true" if chain.get("decision", "delta") != "delta" else "false",
    }


def main(argv=None) -> int:
    path = (argv if argv is not None else sys.argv[1:])[0]
    with open(path) as handle:
        found = outputs(json.load(handle))
    for name, value in found.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

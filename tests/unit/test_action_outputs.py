"""The GitHub Action's outputs, read from an `optimize --json` summary (pure)."""

import json

from difflayers.cli import outputs


def test_a_delta_and_a_rebase_give_the_outputs_the_action_documents(tmp_path, capsys):
    delta = {
        "pushed": "reg/app@sha256:" + "1" * 64,
        "bytes_uploaded": 2830,
        "verified": True,
        "chain": {"decision": "delta"},
    }
    assert outputs.outputs(delta) == {
        "pushed": delta["pushed"],
        "bytes": 2830,
        "verified": "true",
        "rebase": "false",
    }
    rebased = {
        "pushed": "reg/app:2",
        "bytes_uploaded": None,
        "verified": True,
        "chain": {"decision": "rebase-new"},
    }
    assert outputs.outputs(rebased)["rebase"] == "true" and outputs.outputs(rebased)["bytes"] == 0
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(delta))
    assert outputs.main([str(summary)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"pushed={delta['pushed']}",
        "bytes=2830",
        "verified=true",
        "rebase=false",
    ]

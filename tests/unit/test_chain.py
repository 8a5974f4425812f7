"""Chains of deltas: the record in labels, and the policy's decisions."""

import pytest

from difflayers.comparing.rsync import file_bytes, superseded_bytes
from difflayers.core.chain import (
    MAX_LAYERS,
    PREFIX,
    Chain,
    Policy,
    Revision,
    next_chain,
    read_chain,
    with_labels,
    without_chain_labels,
)
from difflayers.core.itemize import parse
from difflayers.core.plan import make_plan


def image(labels=None, layers=3, image_id="sha256:" + "1" * 64):
    return {"Id": image_id, "RootFS": {"Layers": ["l"] * layers}, "Config": {"Labels": labels}}


def test_a_plain_image_is_a_chain_of_depth_zero_on_itself():
    chain = read_chain(image())
    assert (chain.base_id, chain.base_layers, chain.depth) == ("sha256:" + "1" * 64, 3, 0)


def test_the_record_survives_the_labels_and_adds_up():
    new_id = "sha256:" + "2" * 64
    first = next_chain(image(), new_id, superseded_bytes=40, delta_bytes=100, layers=2)
    second = next_chain(image(first.labels(), layers=5), new_id, 60, 10, 1)
    assert second.depth == 2 and second.base_id == first.base_id and second.base_layers == 3
    assert (second.delta_bytes, second.superseded_bytes) == (110, 100)
    labels = second.labels()
    assert labels[PREFIX + "depth"] == "2" and labels[PREFIX + "superseded-bytes"] == "100"
    assert all(isinstance(value, str) for value in labels.values())
    assert read_chain(image(labels)) == second


def test_a_record_edited_by_hand_starts_a_new_chain():
    chain = read_chain(image({PREFIX + "base": "x", PREFIX + "revisions": "not json"}))
    assert chain.depth == 0 and chain.base_id == "sha256:" + "1" * 64


def test_labels_other_than_the_record_are_news_own():
    config = {"Labels": {"team": "a", PREFIX + "depth": "4"}, "Env": ["A=1"]}
    assert without_chain_labels(config) == {"Labels": {"team": "a"}, "Env": ["A=1"]}
    assert without_chain_labels({"Labels": {PREFIX + "depth": "1"}})["Labels"] is None
    assert with_labels(config, {PREFIX + "depth": "5"})["Labels"] == {"team": "a", PREFIX + "depth": "5"}


def chain_of(depth, superseded=0):
    return Chain("sha256:b", 2, tuple(Revision("n", 1, superseded if i == 0 else 0, 2) for i in range(depth)))


@pytest.mark.parametrize(
    "policy, chain, layers_after, superseded_after, expected",
    [
        (Policy(), chain_of(3), 10, 0, []),
        (Policy(min_layers_left=25), chain_of(3), MAX_LAYERS - 24, 0, ["would leave 24 before the limit"]),
        (Policy(min_layers_left=25), chain_of(3), MAX_LAYERS - 25, 0, []),
        (Policy(max_deltas=3), chain_of(3), 10, 0, ["4 deltas would exceed the 3 allowed"]),
        (Policy(max_deltas=3), chain_of(2), 10, 0, []),
        (Policy(max_superseded_share=0.5), chain_of(1), 10, 501, ["superseded bytes (501) would exceed 50%"]),
        (Policy(max_superseded_share=0.5), chain_of(1), 10, 500, []),
    ],
)
def test_policy_names_each_limit_crossed(policy, chain, layers_after, superseded_after, expected):
    reasons = policy.reasons(chain, layers_after, superseded_after, tree_bytes=1000)
    assert len(reasons) == len(expected)
    for reason, text in zip(reasons, expected):
        assert text in reason


def test_superseded_bytes_count_what_new_replaces_or_removes_once(tmp_path):
    old = tmp_path / "old"
    (old / "gone" / "deep").mkdir(parents=True)
    (old / "changed").write_bytes(b"x" * 10)
    (old / "kept").write_bytes(b"y" * 1000)
    (old / "gone" / "a").write_bytes(b"z" * 100)
    (old / "gone" / "deep" / "b").write_bytes(b"w" * 7)
    (old / "gone" / "deep" / "b-again").hardlink_to(old / "gone" / "deep" / "b")
    lines = [b">fcs....... changed", b">f+++++++++ brand-new", b"*deleting   gone/", b"*deleting   gone/a"]
    plan = make_plan(parse(lines))
    assert superseded_bytes(str(old), plan) == 10 + 100 + 7
    assert file_bytes(str(old)) == 10 + 1000 + 100 + 7

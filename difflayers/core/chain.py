"""Chains of deltas: what each processed image records, and when to rebase.

Every deploy processes the new build against the last pushed image, itself
processed, so deltas pile up: layers grow toward moby's limit (125), and
bytes of files later revisions replaced stay in the old deltas, pulled by
every fresh node. Each processed image carries its chain in labels, so the
next run decides without extra input; the policy says when to stop adding
deltas and rebase instead.

Pure data in and out: the engine is not needed here.
"""

import enum
import json
from dataclasses import dataclass, field

PREFIX = "io.github.difflayers.chain."
MAX_LAYERS = 125  # moby refuses deeper images ("max depth exceeded")


def is_chain_label(key: str) -> bool:
    return key.startswith(PREFIX)


def without_chain_labels(config: dict) -> dict:
    """A runtime config with the kit's own record taken out (what NEW has)."""
    labels = {k: v for k, v in (config.get("Labels") or {}).items() if not is_chain_label(k)}
    return {**config, "Labels": labels or None}


@dataclass(frozen=True)
class Revision:
    """One delta of the chain."""

    new_id: str
    delta_bytes: int
    superseded_bytes: int
    layers: int


@dataclass(frozen=True)
class Chain:
    """Where an image stands: the full image its chain started from, and the
    deltas since. A plain image (no labels) is a chain of depth 0 on itself."""

    base_id: str
    base_layers: int
    revisions: tuple = ()

    @property
    def depth(self) -> int:
        return len(self.revisions)

    @property
    def delta_bytes(self) -> int:
        return sum(r.delta_bytes for r in self.revisions)

    @property
    def superseded_bytes(self) -> int:
        return sum(r.superseded_bytes for r in self.revisions)

    def extended(self, revision: Revision) -> "Chain":
        return Chain(self.base_id, self.base_layers, (*self.revisions, revision))

    def labels(self) -> dict:
        """String labels (as image configs hold them); ``revisions`` is the
        per-revision record the report shows."""
        return {
            PREFIX + "base": self.base_id,
            PREFIX + "base-layers": str(self.base_layers),
            PREFIX + "depth": str(self.depth),
            PREFIX + "delta-bytes": str(self.delta_bytes),
            PREFIX + "superseded-bytes": str(self.superseded_bytes),
            PREFIX + "revisions": json.dumps(
                [[r.new_id, r.delta_bytes, r.superseded_bytes, r.layers] for r in self.revisions],
                separators=(",", ":"),
            ),
        }


def read_chain(image: dict) -> Chain:
    """The chain recorded in an image's labels (inspect data), or a new one."""
    labels = (image.get("Config") or {}).get("Labels") or {}
    if PREFIX + "base" not in labels:
        return Chain(image["Id"], len(image["RootFS"]["Layers"]))
    try:
        revisions = tuple(Revision(*entry) for entry in json.loads(labels[PREFIX + "revisions"]))
        return Chain(labels[PREFIX + "base"], int(labels[PREFIX + "base-layers"]), revisions)
    except (KeyError, ValueError, TypeError):
        # A record someone edited by hand is not trusted: start afresh here.
        return Chain(image["Id"], len(image["RootFS"]["Layers"]))


@dataclass(frozen=True)
class Policy:
    """When to rebase instead of adding a delta. Defaults keep a chain well
    clear of the layer limit and stop it once old deltas hold as many dead
    bytes as half the live tree."""

    min_layers_left: int = 25
    max_superseded_share: float = 0.5
    max_deltas: int = 30
    rebase_to: str = "base"  # or "new": NEW as built (REBASE_TO)

    def layer_reasons(self, layers_after: int) -> list:
        """The one limit that applies to any image, chained or not."""
        if MAX_LAYERS - layers_after < self.min_layers_left:
            left = MAX_LAYERS - layers_after
            return [
                (
                    f"{layers_after} layers would leave {left} before the limit of {MAX_LAYERS} (at least "
                    f"{self.min_layers_left} wanted)"
                )
            ]
        return []

    def reasons(self, chain: Chain, layers_after: int, superseded_after: int, tree_bytes: int) -> list:
        """Why the next delta should not be added (empty: add it)."""
        found = self.layer_reasons(layers_after)
        if chain.depth + 1 > self.max_deltas:
            found.append(f"{chain.depth + 1} deltas would exceed the {self.max_deltas} allowed")
        if tree_bytes and superseded_after > self.max_superseded_share * tree_bytes:
            found.append(
                f"superseded bytes ({superseded_after:,}) would exceed {self.max_superseded_share:.0%} of "
                f"NEW's tree ({tree_bytes:,} bytes)"
            )
        return found


class DecisionKind(str, enum.Enum):
    """What the chain policy decided; the value is what --json prints."""

    DELTA = "delta"  # a delta on OLD
    REBASE_BASE = "rebase-base"  # one delta on the chain's full base
    REBASE_NEW = "rebase-new"  # NEW as built starts a new chain
    FIRST = "first"  # no OLD yet: NEW as built is the chain's first image (--new-if-no-old)

    @property
    def rebased(self) -> bool:
        """Pushed more than a delta because the policy said so (exit status 3)."""
        return self in (DecisionKind.REBASE_BASE, DecisionKind.REBASE_NEW)


@dataclass
class Decision:
    """What the run made: a delta, or a rebase and why."""

    kind: DecisionKind
    reasons: list = field(default_factory=list)


def summary(decision: Decision, chain: Chain, layers: int) -> dict:
    """The chain part of ``optimize``'s summary: what was decided, and the chain
    the pushed or tagged image records (``layers``: how many it has)."""
    return {
        "decision": decision.kind.value,
        "reasons": decision.reasons,
        "base": chain.base_id,
        "depth": chain.depth,
        "delta_bytes": chain.delta_bytes,
        "superseded_bytes": chain.superseded_bytes,
        "layers": layers,
    }


def with_labels(config: dict, labels: dict) -> dict:
    """NEW's runtime config, its own chain record dropped, ``labels`` added."""
    base = without_chain_labels(config)
    return {**base, "Labels": {**(base.get("Labels") or {}), **labels}}


def next_chain(old: dict, new_id: str, superseded_bytes: int, delta_bytes: int, layers: int) -> Chain:
    """OLD's chain (inspect data) plus the delta of this run."""
    revision = Revision(new_id, delta_bytes, superseded_bytes, layers)
    return read_chain(old).extended(revision)

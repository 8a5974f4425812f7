"""What a diff found, as data: the images compared, the path, and figures.

The differ writes it as ``rsync-image-diff.json`` beside the log; every later
step (generate, the layer method, the chain policy) reads it back through
``DiffRecord.from_json``, so a field has one name everywhere.
"""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ImageRef:
    """An image as the user named it, and the ID it resolved to."""

    ref: str
    id: str


@dataclass(frozen=True)
class DiffRecord:
    path: str
    old: ImageRef
    new: ImageRef
    rsync: list = field(default_factory=list)
    # generate-dockerfile refuses a log edited after the diff.
    log_sha256: str = ""
    # Names whose hardlink group changed, escaped like the log so any name survives JSON.
    relink: list = field(default_factory=list)
    # For chains of deltas (see chain.py): dead bytes this delta leaves in
    # OLD's layers, and the live tree they are measured against.
    superseded_bytes: int = 0
    new_tree_bytes: int = 0
    # Extended attribute names of each shipped entry that has any (escaped name -> names).
    xattrs: dict = field(default_factory=dict)
    # Why entries differ (see comparing/causes.py): cause -> [entries, bytes of NEW's files].
    causes: dict = field(default_factory=dict)
    # Changed byte-code equivalent to OLD's (escaped names), and shipped byte-code
    # -> [its unchanged source, the source's bytes] that must ship together.
    equivalent_bytecode: list = field(default_factory=list)
    bytecode_sources: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "DiffRecord":
        return cls(
            path=data["path"],
            old=ImageRef(**data["old"]),
            new=ImageRef(**data["new"]),
            rsync=list(data.get("rsync", [])),
            log_sha256=data.get("log_sha256", ""),
            relink=list(data.get("relink", [])),
            superseded_bytes=int(data.get("superseded_bytes", 0)),
            new_tree_bytes=int(data.get("new_tree_bytes", 0)),
            xattrs=dict(data.get("xattrs", {})),
            causes={k: list(v) for k, v in data.get("causes", {}).items()},
            equivalent_bytecode=list(data.get("equivalent_bytecode", [])),
            bytecode_sources={k: list(v) for k, v in data.get("bytecode_sources", {}).items()},
        )

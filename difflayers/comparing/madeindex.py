"""The tree index of the image made: OLD's rows where the layer leaves OLD's entry.

The image pushed is OLD's layers and the delta layer. An entry the layer does
not ship stays OLD's in that image, with OLD's mtime: a fresh checkout gives
every file of NEW a new mtime and ships none of them for it. The check by
construction proved every other field equal to NEW's, so the index pushed
beside the image takes OLD's row for such an entry and NEW's row (the layer's
entry) for the rest. It then describes the image as it is, not NEW as built,
and differs from OLD's index by the layer's entries only: the next index is a
delta of kilobytes (``core.indexdelta``), and a later run with OLD in its
engine finds that OLD's index in the registry is the one it hashed.
"""

import io
from pathlib import Path

from difflayers.archives.tarstream import open_tar
from difflayers.archives.treescan import LayerChanges
from difflayers.core import treeindex


def made_index(old: bytes, new: bytes, layer: Path | None, tree_path: str) -> bytes:
    """The index of OLD + ``layer`` from OLD's index and NEW's (both checked
    in tree order by this run). The check by construction is what proves each
    row taken from OLD right; unchecked (``--skip-verify``), the index is as
    unproven as the image."""
    shipped: set = set()
    if layer is not None:
        with open_tar(layer) as tar:
            shipped = set(LayerChanges.read(tar, tree_path.strip("/")).added)
    # A plain name's row holds its text as it is: looked up by those bytes.
    shipped_plain = {name.encode("ascii") for name in shipped if treeindex.PLAIN.fullmatch(name)}

    def is_shipped(line: bytes) -> bool:
        plain = treeindex.plain_name(line)
        return plain in shipped_plain if plain is not None else treeindex.Row(line).name in shipped

    def lines():
        # Rows of one name are paired by their bytes (most rows, a fresh
        # checkout's too), tree keys made only around added and removed names.
        old_rows, new_rows = (treeindex.rows(io.BytesIO(data), tree_path) for data in (old, new))
        for before, after in treeindex.paired(old_rows, new_rows, _key, same=_same_name):
            if after is None:
                continue  # removed by the layer
            if before is None or is_shipped(after):
                yield after
            else:
                yield before

    return treeindex.from_rows(treeindex.header_of(new), lines())


def _key(line: bytes) -> tuple:
    return treeindex.Row(line).key


def _same_name(a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    plain = treeindex.plain_name(a)
    return plain is not None and plain == treeindex.plain_name(b)

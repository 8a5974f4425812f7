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

    def lines():
        rows = (map(treeindex.Row, treeindex.rows(io.BytesIO(data), tree_path)) for data in (old, new))
        for before, after in treeindex.paired(*rows, treeindex.row_key):
            if after is None:
                continue  # removed by the layer
            if before is None or after.name in shipped:
                yield after.line
            else:
                yield before.line

    return treeindex.from_rows(treeindex.header_of(new), lines())

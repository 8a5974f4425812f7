"""The reader every tree stream from the engine passes through."""

import random

import pytest

from difflayers.adapters.streams import ChunkReader


@pytest.mark.parametrize("seed", range(20))
def test_reads_return_exactly_the_stream(seed):
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(0, 50_000))
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randrange(0, 30))))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    reader = ChunkReader(chunks)
    out = []
    while True:
        size = rng.choice([-1, 0, 1, 7, 512, 10_000]) if rng.random() < 0.9 else 512
        piece = reader.read(size)
        if size > 0:
            assert len(piece) <= size
        if size == -1:
            out.append(piece)
            break
        if size > 0 and not piece:
            break
        out.append(piece)
    assert b"".join(out) == data
    assert reader.read(10) == b""


def _tar(files: dict) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_layer_blob_is_known_by_its_diff_id_gzip_or_not():
    import gzip
    import hashlib
    import io

    from difflayers.adapters.streams import layer_identity

    layer = _tar({"app/a": b"x" * 300, "app/b": b"yy"})
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    assert layer_identity(io.BytesIO(layer)) == (diff_id, 302)
    assert layer_identity(io.BytesIO(gzip.compress(layer))) == (diff_id, 302)
    assert layer_identity(io.BytesIO(b'{"schemaVersion": 2}')) is None

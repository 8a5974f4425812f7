"""The reader every tree stream from the engine passes through."""

import random

import pytest

from difflayers.adapters.engine import _ChunkReader


@pytest.mark.parametrize("seed", range(20))
def test_reads_return_exactly_the_stream(seed):
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(0, 50_000))
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randrange(0, 30))))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    reader = _ChunkReader(chunks)
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

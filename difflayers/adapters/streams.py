"""Reading tar streams from the engine: chunked HTTP bodies, layer blobs.

Small helpers of the engine adapter, kept apart so each reads at a glance.
"""

import gzip
import hashlib
import tarfile

from difflayers.archives.tarstream import open_tar


class ChunkReader:
    """A read()-able view of the SDK's chunk iterator, for tarfile's stream mode.

    Chunks are served from an offset into the current one, not re-sliced on
    each read: every tree stream the kit reads passes through here.
    """

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._chunk = b""
        self._offset = 0

    def read(self, size=-1):
        parts, wanted = [], size
        while wanted < 0 or wanted > 0:
            if self._offset >= len(self._chunk):
                try:
                    self._chunk, self._offset = next(self._chunks), 0
                except StopIteration:
                    break
                continue
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._offset + wanted)
            parts.append(self._chunk[self._offset : end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return parts[0] if len(parts) == 1 else b"".join(parts)


class Counting:
    """A read()-able view that counts the bytes read: what a stream cost, measured."""

    def __init__(self, source):
        self._source = source
        self.count = 0

    def read(self, size=-1):
        data = self._source.read(size)
        self.count += len(data)
        return data


class Hashing:
    """A read()-able view that hashes what passes, for a layer read once."""

    def __init__(self, source):
        self._source = source
        self.sha256 = hashlib.sha256()

    def read(self, size=-1):
        data = self._source.read(size)
        self.sha256.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.sha256.hexdigest()


def layer_identity(blob, visit=None) -> tuple:
    """(diff ID, bytes of file content) of a layer blob, gzip or not; None for what is no layer.

    The diff ID is the digest of the uncompressed tar, which an image's config
    lists; the content bytes are what the layer's files hold, whatever the
    tar's headers and the store's blocks add. ``visit(member)`` sees each header.
    """
    head = blob.read(2)
    source = Prefixed(head, blob)
    if head == b"\x1f\x8b":
        source = gzip.GzipFile(fileobj=source, mode="rb")
    hashing = Hashing(source)
    try:
        with open_tar(fileobj=hashing) as tar:
            content = 0
            for member in tar:
                if visit is not None:
                    visit(member)
                if member.isreg():
                    content += member.size
    except (tarfile.TarError, OSError, EOFError):
        return None
    return hashing.drain(), content


class Prefixed:
    """``head`` (already read) and then the rest of ``source``."""

    def __init__(self, head: bytes, source):
        self._head, self._source = head, source

    def read(self, size=-1):
        if not self._head:
            return self._source.read(size)
        if size < 0:
            data, self._head = self._head + self._source.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data if len(data) == size else data + self._source.read(size - len(data))

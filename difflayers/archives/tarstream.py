"""Tar streams that forget each member once it has passed.

``tarfile`` keeps every ``TarInfo`` it reads or writes in ``members`` (with
its PAX headers, about 1 KB each), even in stream mode: at 100,000 entries
that was the largest part of the kit's memory, more than the trees' indexes.
The kit reads and writes each archive once, front to back, and never looks a
member up by name, so nothing needs them.
"""

import tarfile


class ForgetfulTar(tarfile.TarFile):
    """A ``TarFile`` whose ``members`` holds at most the current member."""

    def next(self):
        self.members.clear()
        return super().next()

    def addfile(self, tarinfo, fileobj=None):
        super().addfile(tarinfo, fileobj)
        self.members.clear()


def open_tar(name=None, mode: str = "r|", fileobj=None, **options) -> tarfile.TarFile:
    """``tarfile.open`` for one pass: names as any bytes (surrogate escapes),
    PAX headers when writing; ``options`` as ``tarfile.open`` takes them."""
    options.setdefault("encoding", "utf-8")
    options.setdefault("errors", "surrogateescape")
    if mode.startswith("w"):
        options.setdefault("format", tarfile.PAX_FORMAT)
    return ForgetfulTar.open(name, mode, fileobj, **options)

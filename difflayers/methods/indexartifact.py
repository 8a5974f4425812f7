"""A tree index kept in the registry, beside the image it describes.

It is an OCI artifact (image spec 1.1: ``artifactType``, an empty config, the
index as its one layer) whose ``subject`` is the image's manifest. Registries
with the referrers API list it there; for those without (distribution 2.8,
Debian's docker-registry) the client keeps the list itself under the
referrers tag ``sha256-<hex of the subject>`` (distribution spec 1.1,
"Referrers Tag Schema"). Reading it back checks the manifest's subject, the
blob's digest (the registry adapter), and the index's schema and path.
"""

import json
import random
import time
from dataclasses import dataclass

from difflayers.adapters.registry import Registry
from difflayers.core import indexdelta, treeindex
from difflayers.core.digests import sha256_digest
from difflayers.core.mediatypes import OCI_INDEX, OCI_MANIFEST
from difflayers.errors import BadIndex, RegistryError
from difflayers.methods.push import carry_blobs

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
PATH_KEY = "io.github.difflayers.tree-index.path"
ENTRIES_KEY = "io.github.difflayers.tree-index.entries"  # sha256 of the entry lines
MAX_DELTAS = 8  # then a whole index again
TAG_ATTEMPTS = 5  # writes of the referrers list before giving up (other writers keep replacing it)
MAX_SETTLE = 5.0  # seconds waited at most before reading the list back
ALIASED_SUFFIX = ".referrers"  # the list's tag where the registry reads sha256-<hex> as that digest
SMALL = 4096  # deltas up to this many bytes, or half the whole index, are kept as deltas


def referrers_tag(digest: str) -> str:
    """The tag a client keeps a subject's referrers under where the registry cannot."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"[:128]


def manifest_for(
    index: bytes, subject: dict, path: str, parts: list | None = None, entries: str | None = None
) -> bytes:
    """The artifact manifest: deterministic, so the same index gives the same digest.
    ``parts``: the layer descriptors when the index is kept as a base and deltas
    (``core.indexdelta``); else the index is the one layer. The digest of the
    index's entries is annotated, so a reader checks what it composes."""
    layers = parts or [_part(treeindex.MEDIA_TYPE, index, path)]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": treeindex.ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256_digest(EMPTY), "size": len(EMPTY)},
        "layers": layers,
        "subject": subject,
        "annotations": {PATH_KEY: path, ENTRIES_KEY: entries or indexdelta.entries_digest(index)},
    }
    return json.dumps(manifest, indent=3, sort_keys=True).encode()


def _part(media_type: str, blob: bytes, path: str) -> dict:
    return {
        "mediaType": media_type,
        "digest": sha256_digest(blob),
        "size": len(blob),
        "annotations": {PATH_KEY: path},
    }


@dataclass
class Artifact:
    """A tree index found in the registry: where, its parts (layer descriptors:
    a whole index, then index deltas), the digest of its entries, and the index
    itself once read (``data``)."""

    repository: str
    digest: str
    parts: list
    entries: str | None
    data: bytes | None = None


def layer_digests(registry: Registry, repository: str, digest: str) -> list:
    """The digests of the layers of the manifest ``digest``: what an index of it is bound to."""
    _, body, _ = registry.manifest(repository, digest)
    try:
        return [layer["digest"] for layer in json.loads(body)["layers"]]
    except (ValueError, KeyError, TypeError):
        raise BadIndex(f"{registry.host}/{repository}@{digest[:19]} is not an image manifest") from None


def attach(
    registry: Registry, repository: str, subject: dict, index: bytes, path: str, base=None, image=None
) -> dict:
    """Push ``index`` (bytes of a tree index of ``path``) as an artifact referring
    to ``subject`` (a manifest descriptor), bound to the subject's layers
    (``treeindex.bound``); return its digest, its size, the bytes sent and its
    parts. ``base``: the ``Artifact`` of the index this one follows (OLD's, its
    ``data`` known): its parts are reused and only a delta is uploaded, until
    the deltas grow past ``MAX_DELTAS`` or half the base (and ``SMALL``).
    ``image``: the record of the image's layers to write in its header."""
    index = treeindex.bound(index, layer_digests(registry, repository, subject["digest"]), image)
    parts, sent = None, 0
    if base is not None and base.data is not None and len(base.parts) - 1 < MAX_DELTAS:
        deltas = base.parts[1:]
        room = int(max(base.parts[0]["size"] / 2, SMALL)) - sum(part["size"] for part in deltas)
        delta = indexdelta.make(base.data, index, limit=room)
        if delta is not None and len(delta) <= room:
            sent += carry_blobs(registry, repository, base.repository, base.parts)[2]  # bytes copied
            parts = [*base.parts, _part(indexdelta.MEDIA_TYPE, delta, path)]
    blobs = [EMPTY, index] if parts is None else [EMPTY, delta]
    for blob in blobs:
        digest = sha256_digest(blob)
        if not registry.has_blob(repository, digest):
            sent += registry.upload(repository, digest, blob, len(blob))
    entries = indexdelta.entries_digest(index)
    body = manifest_for(index, subject, path, parts, entries)
    digest = registry.put_manifest(repository, sha256_digest(body), OCI_MANIFEST, body)
    sent += len(body)
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(body),
        "artifactType": treeindex.ARTIFACT_TYPE,
        "annotations": {PATH_KEY: path},
    }
    if registry.referrers(repository, subject["digest"], treeindex.ARTIFACT_TYPE) is None:
        sent += _add_to_referrers_tag(registry, repository, subject["digest"], descriptor, path)
    parts = parts or [_part(treeindex.MEDIA_TYPE, index, path)]
    made = Artifact(repository, digest, parts, entries, index)
    return {"digest": digest, "bytes": len(index), "bytes_sent": sent, "parts": len(parts), "artifact": made}


def _add_to_referrers_tag(
    registry: Registry, repository: str, subject: str, descriptor: dict, path: str
) -> int:
    """Keep the referrers list under the tag schema: an older index of the same
    path is replaced, other referrers (signatures, SBOMs) are kept.

    Other clients change the same list (another path's index, a signature) and
    a registry has no conditional write: a writer that read the list before
    this write and puts its own after it drops this entry. So the list is read
    again once twice the time this write took has passed, and this entry put
    back, merged with what is there, until it stays (the hazard narrowed to
    writers much slower than this one, not removed: the referrers API has none)."""
    tag, _ = _listing(registry, repository, subject)
    sent = 0
    for attempt in range(TAG_ATTEMPTS + 1):
        listed = _referrers_listed(registry, repository, tag)
        if attempt and descriptor in listed:
            return sent
        if attempt == TAG_ATTEMPTS:
            break
        kept = [entry for entry in listed if not _same_index(entry, path) and entry != descriptor]
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, descriptor]}, indent=3
        ).encode()
        begun = time.monotonic()
        registry.put_manifest(repository, tag, OCI_INDEX, body)
        sent += len(body)
        time.sleep(min(2 * (time.monotonic() - begun) + random.uniform(0, 0.1), MAX_SETTLE))
    raise RegistryError(
        f"{registry.host}/{repository}:{tag}: the referrers list kept losing this index to other writers "
        f"({TAG_ATTEMPTS} tries)"
    )


def _listing(registry: Registry, repository: str, subject: str) -> tuple:
    """(the tag a subject's referrers list is kept under, what it holds or None):
    the tag schema's ``sha256-<hex>``, unless the registry reads that tag as the
    subject itself (GitLab resolves a tag spelt like a digest to the manifest of
    that digest, so a list written there never reads back); then a tag of the
    kit's own beside it, ``sha256-<hex>.referrers``, which only the kit reads."""
    tag = referrers_tag(subject)
    found = registry.manifest(repository, tag, missing_ok=True)
    if found is not None and found[2] == subject:
        tag += ALIASED_SUFFIX
        found = registry.manifest(repository, tag, missing_ok=True)
    return tag, found


def _referrers_listed(registry: Registry, repository: str, tag: str) -> list:
    found = registry.manifest(repository, tag, missing_ok=True)
    return json.loads(found[1]).get("manifests", []) if found and found[0] == OCI_INDEX else []


def _same_index(entry: dict, path: str) -> bool:
    """A tree index of ``path`` (replaced by a newer one), not another referrer."""
    return (
        entry.get("artifactType") == treeindex.ARTIFACT_TYPE
        and (entry.get("annotations") or {}).get(PATH_KEY) == path
    )


def find(registry: Registry, repository: str, subject: str, path: str, layers=None) -> bytes | None:
    """The tree index of ``path`` referring to ``subject`` (a manifest digest), or
    None when it has none (``find_artifact``)."""
    found = find_artifact(registry, repository, subject, path, layers)
    return found.data if found else None


def find_artifact(
    registry: Registry, repository: str, subject: str, path: str, layers=None
) -> Artifact | None:
    """``listed``, then read: its parts downloaded (each checked against its
    digest by the registry adapter) and composed, the entries checked against
    the digest annotated. An index listed but not valid is refused
    (``BadIndex``): never trusted half-way; so is one bound to other layers
    than ``layers`` (the subject's layer digests), made for another image."""
    found = listed(registry, repository, subject, path)
    if found is None:
        return None
    where = f"{registry.host}/{repository}@{found.digest[:19]}"
    try:
        blobs = [registry.blob(repository, part["digest"]) for part in found.parts]
    except RegistryError as exc:
        raise BadIndex(f"the tree index {where}: {exc}") from None
    data = indexdelta.compose(blobs[0], blobs[1:], path) if len(blobs) > 1 else blobs[0]
    if found.entries is not None and indexdelta.entries_digest(data) != found.entries:
        raise BadIndex(f"the tree index {where} does not compose to the entries its manifest names")
    named = treeindex.image_of(data).get("layer_digests")
    if layers is not None and named is not None and named != list(layers):
        raise BadIndex(
            f"the tree index {where} was made for other layers than OLD's ({len(named)} named, "
            f"{sum(a != b for a, b in zip(named, layers)) + abs(len(named) - len(layers))} not OLD's): "
            "it describes another image"
        )
    found.data = data
    return found


def listed(registry: Registry, repository: str, subject: str, path: str) -> Artifact | None:
    """The tree index artifact of ``path`` referring to ``subject``, its manifest
    read and checked (subject, media types), its parts not downloaded."""
    listing = registry.referrers(repository, subject, treeindex.ARTIFACT_TYPE)
    if listing is None:
        _, found = _listing(registry, repository, subject)
        listing = json.loads(found[1]) if found and found[0] == OCI_INDEX else {"manifests": []}
    candidates = [
        entry
        for entry in listing.get("manifests", [])
        if entry.get("artifactType") == treeindex.ARTIFACT_TYPE
        and (entry.get("annotations") or {}).get(PATH_KEY) == path
    ]
    if not candidates:
        return None
    digest = candidates[-1]["digest"]
    where = f"{registry.host}/{repository}@{digest[:19]}"
    _, body, _ = registry.manifest(repository, digest)
    try:
        manifest = json.loads(body)
        parts = list(manifest["layers"])
        refers_to = manifest["subject"]["digest"]
        entries = (manifest.get("annotations") or {}).get(ENTRIES_KEY)
        kinds = [part["mediaType"] for part in parts]
        for part in parts:
            if not (isinstance(part["digest"], str) and isinstance(part["size"], int)):
                raise TypeError("a part's digest or size")
    except (ValueError, KeyError, IndexError, TypeError):
        raise BadIndex(f"the tree index manifest {where} is not one this kit writes") from None
    if refers_to != subject:
        raise BadIndex(
            f"the tree index {where} refers to {refers_to[:19]}, not to OLD's manifest {subject[:19]}"
        )
    if not kinds or kinds[0] != treeindex.MEDIA_TYPE or any(k != indexdelta.MEDIA_TYPE for k in kinds[1:]):
        raise BadIndex(f"the tree index {where} holds {kinds[:3]!r}, not a tree index and its deltas")
    return Artifact(repository, digest, parts, entries if isinstance(entries, str) else None)

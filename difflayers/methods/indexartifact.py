"""A tree index kept in the registry, beside the image it describes.

It is an OCI artifact (image spec 1.1: ``artifactType``, an empty config, the
index as its one layer) whose ``subject`` is the image's manifest. Registries
with the referrers API list it there; for those without (distribution 2.8,
Debian's docker-registry) the client keeps the list itself under the
referrers tag ``sha256-<hex of the subject>`` (distribution spec 1.1,
"Referrers Tag Schema"). Reading it back checks the manifest's subject, the
blob's digest (the registry adapter), and the index's schema and path.
"""

import hashlib
import json

from difflayers.adapters.registry import Registry
from difflayers.core import treeindex
from difflayers.core.mediatypes import OCI_INDEX, OCI_MANIFEST
from difflayers.errors import BadIndex, RegistryError

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
PATH_KEY = "io.github.difflayers.tree-index.path"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def referrers_tag(digest: str) -> str:
    """The tag a client keeps a subject's referrers under where the registry cannot."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"[:128]


def manifest_for(index: bytes, subject: dict, path: str) -> bytes:
    """The artifact manifest: deterministic, so the same index gives the same digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": treeindex.ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": _digest(EMPTY), "size": len(EMPTY)},
        "layers": [
            {
                "mediaType": treeindex.MEDIA_TYPE,
                "digest": _digest(index),
                "size": len(index),
                "annotations": {PATH_KEY: path},
            }
        ],
        "subject": subject,
        "annotations": {PATH_KEY: path},
    }
    return json.dumps(manifest, indent=3, sort_keys=True).encode()


def layer_digests(registry: Registry, repository: str, digest: str) -> list:
    """The digests of the layers of the manifest ``digest``: what an index of it is bound to."""
    _, body, _ = registry.manifest(repository, digest)
    try:
        return [layer["digest"] for layer in json.loads(body)["layers"]]
    except (ValueError, KeyError, TypeError):
        raise BadIndex(f"{registry.host}/{repository}@{digest[:19]} is not an image manifest") from None


def attach(registry: Registry, repository: str, subject: dict, index: bytes, path: str) -> dict:
    """Push ``index`` (bytes of a tree index of ``path``) as an artifact referring
    to ``subject`` (a manifest descriptor), bound to the subject's layers
    (``treeindex.bound``); return its digest, its size and the bytes sent."""
    index = treeindex.bound(index, layer_digests(registry, repository, subject["digest"]))
    sent = 0
    for blob in (EMPTY, index):
        digest = _digest(blob)
        if not registry.has_blob(repository, digest):
            sent += registry.upload(repository, digest, blob, len(blob))
    body = manifest_for(index, subject, path)
    digest = registry.put_manifest(repository, _digest(body), OCI_MANIFEST, body)
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
    return {"digest": digest, "bytes": len(index), "bytes_sent": sent}


def _add_to_referrers_tag(
    registry: Registry, repository: str, subject: str, descriptor: dict, path: str
) -> int:
    """Keep the referrers list under the tag schema: an older index of the same
    path is replaced, other referrers (signatures, SBOMs) are kept."""
    tag = referrers_tag(subject)
    found = registry.manifest(repository, tag, missing_ok=True)
    listed = json.loads(found[1]).get("manifests", []) if found and found[0] == OCI_INDEX else []
    kept = [
        entry
        for entry in listed
        if not (
            entry.get("artifactType") == treeindex.ARTIFACT_TYPE
            and (entry.get("annotations") or {}).get(PATH_KEY) == path
        )
    ]
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, descriptor]}, indent=3
    ).encode()
    registry.put_manifest(repository, tag, OCI_INDEX, body)
    return len(body)


def find(registry: Registry, repository: str, subject: str, path: str, layers=None) -> bytes | None:
    """The tree index of ``path`` referring to ``subject`` (a manifest digest), or
    None when it has none. An index listed but not valid is refused (``BadIndex``):
    never trusted half-way; so is one bound to other layers than ``layers``
    (the subject's layer digests), made for another image."""
    listed = registry.referrers(repository, subject, treeindex.ARTIFACT_TYPE)
    if listed is None:
        found = registry.manifest(repository, referrers_tag(subject), missing_ok=True)
        listed = json.loads(found[1]) if found and found[0] == OCI_INDEX else {"manifests": []}
    candidates = [
        entry
        for entry in listed.get("manifests", [])
        if entry.get("artifactType") == treeindex.ARTIFACT_TYPE
        and (entry.get("annotations") or {}).get(PATH_KEY) == path
    ]
    if not candidates:
        return None
    where = f"{registry.host}/{repository}@{candidates[-1]['digest'][:19]}"
    _, body, _ = registry.manifest(repository, candidates[-1]["digest"])
    try:
        manifest = json.loads(body)
        layer = manifest["layers"][0]
        refers_to = manifest["subject"]["digest"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise BadIndex(f"the tree index manifest {where} is not one this kit writes") from None
    if refers_to != subject:
        raise BadIndex(
            f"the tree index {where} refers to {refers_to[:19]}, not to OLD's manifest {subject[:19]}"
        )
    if layer.get("mediaType") != treeindex.MEDIA_TYPE:
        raise BadIndex(f"the tree index {where} holds a {layer.get('mediaType')!r}, not a tree index")
    try:
        data = registry.blob(repository, layer["digest"])
    except RegistryError as exc:
        raise BadIndex(f"the tree index {where}: {exc}") from None
    named = treeindex.image_of(data).get("layer_digests")
    if layers is not None and named is not None and named != list(layers):
        raise BadIndex(
            f"the tree index {where} was made for other layers than OLD's ({len(named)} named, "
            f"{sum(a != b for a, b in zip(named, layers)) + abs(len(named) - len(layers))} not OLD's): "
            "it describes another image"
        )
    return data

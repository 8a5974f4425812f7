"""Content addresses, as OCI images and registries name blobs and manifests."""

import hashlib


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: a blob's, a config's or a manifest's name."""
    return "sha256:" + hashlib.sha256(data).hexdigest()

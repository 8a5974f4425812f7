"""The registries users push to, each as the fault proxy answers where the kit is
new: the referrers API or its absence, cross-repository mounts, tags spelt like
digests. Their documented behaviours (sources in the README's registry table and
../shared/FACTS.md), not their code; a registry with the same answers as another
shares its row.

``apply(proxy, name)`` sets the proxy up as ``name``; ``REFERRERS_API`` names
the dialects that list referrers themselves (the kit writes no ``sha256-`` tag
there)."""

import copy

DIALECTS = {
    # Debian's docker-registry 2.8 and distribution 3.x: no referrers API (404).
    "distribution": {},
    # ECR (BLOB_MOUNTING on), ACR, Quay 3.14+, zot, Docker Hub (2025): the
    # referrers API; a manifest pushed with a subject is answered with OCI-Subject.
    "referrers-api": {"referrers_api": True},
    # ECR without BLOB_MOUNTING, or across accounts: a mount is answered 202, upload instead.
    "ecr-no-mount": {"referrers_api": True, "refuse_mounts": True},
    # Harbor 2.8.1+: the referrers API; a mount from a project the token cannot
    # read is answered 401 (goharbor/harbor#17097), not 202.
    "harbor": {"referrers_api": True, "answers": {("POST", "mount="): (401, {})}},
    # GHCR: the referrers endpoint is a 303 to a GitHub API that answers 404.
    "ghcr": {
        "answers": {
            ("GET", "/referrers/"): (303, {"Location": "/github-api/referrers"}),
            ("GET", "/github-api/"): (404, {}),
        }
    },
    # GHCR rate-limited: 429 every time.
    "ghcr-429": {"answers": {("GET", "/referrers/"): (429, {"Retry-After": "30"})}},
    # GAR, once: the referrers endpoint redirected to a login page (200, HTML).
    "gar-login-page": {
        "answers": {
            ("GET", "/referrers/"): (302, {"Location": "/login"}),
            ("GET", "/login"): (200, {"Content-Type": "text/html"}),
        }
    },
    # GitLab: no referrers API, and a tag named sha256-<hex> reads as the
    # manifest of that digest (oras-project/oras-go#1396).
    "gitlab": {"digest_tags": True},
}

REFERRERS_API = {name for name, settings in DIALECTS.items() if settings.get("referrers_api")}
MOUNTS_REFUSED = {"ecr-no-mount", "harbor"}


def apply(proxy, name: str) -> None:
    """Make ``proxy`` answer as the registry ``name``."""
    for attribute, value in DIALECTS[name].items():
        setattr(proxy, attribute, copy.deepcopy(value))

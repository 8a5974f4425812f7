"""The few registry calls a push by blob mount needs (OCI distribution spec).

OLD is already in the registry; the processed image is OLD's layers + one.
So OLD's layer blobs are *mounted* into the target repository (a pointer
made inside the registry, no bytes sent), the delta layer and the config are
uploaded, and a manifest naming them all is put under the tag.

Registries without login only: a registry that answers 401 gets a clear
message pointing at ``docker push``, which sends only the new layer too.
"""

import hashlib
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from difflayers.core.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from difflayers.errors import BadInput, RegistryError

ACCEPT = f"{DOCKER_MANIFEST}, {OCI_MANIFEST}, {DOCKER_LIST}, {OCI_INDEX}"
TIMEOUT = 120


@dataclass(frozen=True)
class Reference:
    """``host/repository`` and a tag or digest, as in ``127.0.0.1:5000/app:2``."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"{self.host}/{self.repository}{suffix}"


def parse_reference(text: str) -> Reference:
    """Split an image reference that names its registry host.

    The first component is a host when it has a dot or a colon or is
    ``localhost``, as Docker reads references.
    """
    name, _, digest = text.partition("@")
    first, _, rest = name.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        raise BadInput(f"{text!r} names no registry: write it as HOST[:PORT]/REPOSITORY[:TAG]")
    repository, tag = rest, ""
    if ":" in rest.rsplit("/", 1)[-1]:
        repository, _, tag = rest.rpartition(":")
    if not repository or repository != repository.lower():
        raise BadInput(f"{text!r}: the repository must be lowercase and not empty")
    return Reference(first, repository, tag, digest)


def _is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """A registry host; plain HTTP on loopback (as the engine allows), else HTTPS."""

    def __init__(self, host: str, plain_http: bool = False):
        self.host = host
        scheme = "http" if plain_http or _is_loopback(host) else "https"
        self.base = f"{scheme}://{host}"

    def _request(self, method: str, url: str, *, body=None, headers=None, expect=(200,)):
        if not url.startswith("http"):
            url = self.base + url
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            response = exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(
                f"cannot reach the registry {self.host}: {getattr(exc, 'reason', exc)}"
            ) from None
        if response.status == 401:
            raise RegistryError(
                f"the registry {self.host} asks for credentials; the direct push supports registries "
                "without login only: tag the verified image and `docker push` it (the engine sends only "
                "the new layer as well)"
            )
        if response.status not in expect:
            detail = response.read(2000).decode("utf-8", "replace").strip()
            raise RegistryError(f"{method} {url}: HTTP {response.status} {detail}")
        return response

    def manifest(self, repository: str, reference: str) -> tuple:
        """(media type, bytes, digest) of a manifest or index."""
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})
        body = response.read()
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        media_type = json.loads(body).get("mediaType") or media_type
        return media_type, body, sha256_digest(body)

    def blob(self, repository: str, digest: str) -> bytes:
        body = self._request("GET", f"/v2/{repository}/blobs/{digest}").read()
        if sha256_digest(body) != digest:
            raise RegistryError(f"blob {digest} from {self.host}/{repository} does not match its digest")
        return body

    def has_blob(self, repository: str, digest: str) -> bool:
        return self._request("HEAD", f"/v2/{repository}/blobs/{digest}", expect=(200, 404)).status == 200

    def mount(self, repository: str, digest: str, source: str) -> None:
        """Make ``digest`` of ``source`` part of ``repository`` without sending it."""
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/?{query}", expect=(201, 202))
        if response.status == 202:
            # The registry opened an upload instead: the blob is not there to mount.
            self._request("DELETE", self._location(response), expect=(204, 404))
            raise RegistryError(f"{self.host}/{source} does not hold OLD's layer {digest}; push OLD again")

    def upload(self, repository: str, digest: str, handle, size: int) -> None:
        """Upload a blob in one request (monolithic upload)."""
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/", expect=(202,))
        location = self._location(response)
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._request(
            "PUT", f"{location}{separator}digest={digest}", body=handle, headers=headers, expect=(201,)
        )

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            body=body,
            headers={"Content-Type": media_type},
            expect=(201,),
        )
        return response.headers.get("Docker-Content-Digest") or sha256_digest(body)

    def _location(self, response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise RegistryError(f"the registry {self.host} gave no upload location")
        return urllib.parse.urljoin(self.base + "/", location)

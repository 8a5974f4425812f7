"""The registry calls a push by blob mount needs (OCI distribution spec),
spoken as Docker speaks them.

OLD is already in the registry; the processed image is OLD's layers + one.
OLD's layer blobs are *mounted* into the target repository (a pointer made
inside the registry, no bytes sent), the delta layer and the config are
uploaded, and a manifest naming them all is put under the tag.

How it talks: one keep-alive session per registry; TLS with the system's
CAs plus ``/etc/docker/certs.d/HOST/`` (``ca.crt``, ``client.cert`` and
``client.key``), as the engine reads them; on loopback, HTTPS first and plain
HTTP if the registry does not speak TLS (the engine's rule for insecure
registries). Logins as ``docker login`` stored them (``credentials.py``):
Basic, or the Bearer token flow with the scopes a cross-repository mount
needs, a new token when one expires. Retries with backoff on dropped
connections, 429 and 5xx, honouring ``Retry-After``.
"""

import base64
import contextlib
import hashlib
import ipaddress
import json
import logging
import re
import ssl
import time
import urllib.parse
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from difflayers.adapters.credentials import Credentials
from difflayers.core.digests import sha256_digest
from difflayers.core.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from difflayers.errors import RegistryError
from difflayers.settings import CERTS_D

log = logging.getLogger("difflayers.registry")
ACCEPT = f"{DOCKER_MANIFEST}, {OCI_MANIFEST}, {DOCKER_LIST}, {OCI_INDEX}"
TIMEOUT = (10, 120)  # connect, read
SERVER_ERRORS = (500, 502, 503, 504)
RETRIED_STATUS = (429, *SERVER_ERRORS)
ATTEMPTS = 5
MAX_WAIT = 30.0
CHUNK = 16 << 20  # blobs larger than this are uploaded in chunks (PATCH), with progress
REFERRERS_TRIES = 3  # asks of the referrers API answered 429 with a short Retry-After
REFERRERS_WAIT = 2.0  # seconds: a longer Retry-After goes to the tag schema at once
MAX_MANIFEST = 4 << 20  # bytes: the largest manifest every registry takes and serves (OCI distribution)


def registry_of(
    target, plain_http: bool = False, certs_d: str | None = None, pull=(), push=(), attempts=ATTEMPTS
) -> "Registry":
    """The client of ``target``'s registry (a ``Reference``), with the login
    ``docker login`` stored, pull on the repositories of the ``pull`` references
    and pull and push on those of ``push``: the one way a command makes one, so
    each takes ``--plain-http`` and the engine's CAs alike. ``attempts``: tries
    per request (1 for a question whose answer the caller can do without)."""
    from difflayers.adapters.credentials import credentials_for

    scopes = {f"repository:{ref.repository}:pull" for ref in pull}
    scopes |= {f"repository:{ref.repository}:pull,push" for ref in push}
    login = credentials_for(target.host)
    return Registry(target.api_host, plain_http, login, certs_d=certs_d, scopes=scopes, attempts=attempts)


def is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple:
    """(scheme, params) of a ``WWW-Authenticate`` header:
    ``Bearer realm="https://auth",service="reg",scope="repository:a:pull"``."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class _TLSAdapter(HTTPAdapter):
    """An adapter whose connections verify with ``context`` (system CAs + certs.d)."""

    def __init__(self, context: ssl.SSLContext):
        self._context = context
        super().__init__(pool_maxsize=4)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)


def tls_context(host: str, certs_d: str) -> tuple:
    """(SSL context with the system's CAs and the host's certs.d CA, client cert pair or None)."""
    context = ssl.create_default_context()
    folder = Path(certs_d) / host
    client = None
    if folder.is_dir():
        for ca in sorted(folder.glob("*.crt")):
            context.load_verify_locations(cafile=str(ca))
        cert, key = folder / "client.cert", folder / "client.key"
        if cert.is_file() and key.is_file():
            client = (str(cert), str(key))
    return context, client


class Registry:
    """One registry host (its API host: ``registry-1.docker.io`` for Docker Hub)."""

    def __init__(
        self,
        host: str,
        plain_http: bool = False,
        credentials: Credentials | None = None,
        certs_d: str | None = None,
        scopes=(),
        attempts: int = ATTEMPTS,
    ):
        self.host = host
        self.attempts = attempts  # 1: a question worth one try (``pipeline``), not a push
        self.credentials = credentials
        self.scopes = set(scopes)  # asked for with every token, e.g. pull on OLD's repository
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "difflayers"
        self.certs_d = certs_d or CERTS_D
        context, client = tls_context(host, self.certs_d)
        self.session.mount("https://", _TLSAdapter(context))
        if client:
            self.session.cert = client
        self.received = 0  # bytes of the bodies it answered: what a run downloads
        self._authorization = None  # the header that last worked
        self._tokens: dict = {}
        self.base = f"http://{host}" if plain_http else self._scheme()

    def _scheme(self) -> str:
        """HTTPS; on loopback, plain HTTP when the registry does not speak TLS at
        all. A certificate that does not verify is an error, not a reason to
        fall back: it names the certs.d file that would make it trusted."""
        if not is_loopback(self.host):
            return f"https://{self.host}"
        for attempt in range(self.attempts):
            try:
                self.session.get(f"https://{self.host}/v2/", timeout=TIMEOUT)
                return f"https://{self.host}"
            except requests.exceptions.SSLError as exc:
                if "certificate" in str(exc).lower():
                    raise RegistryError(
                        f"{self.host}'s TLS certificate is not trusted: put its CA in "
                        f"{self.certs_d}/{self.host}/ca.crt, as for the engine"
                    ) from None
                return f"http://{self.host}"  # it answered, but not in TLS
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
                if attempt < self.attempts - 1:  # dropped or refused: that says nothing of TLS yet
                    self._wait(attempt, None)
        return f"https://{self.host}"

    # -- one request: retries, then authentication --------------------------------

    def _request(
        self,
        method,
        url,
        *,
        body=None,
        headers=None,
        expect=(200,),
        what="",
        stream=False,
        retried=RETRIED_STATUS,
    ):
        if not url.startswith("http"):
            url = self.base + url
        start = body.tell() if hasattr(body, "seek") else None
        for attempt in range(self.attempts):
            if start is not None:
                body.seek(start)
            response = self._send(method, url, body, headers, stream, attempt)
            log.debug(
                "%s %s -> %s (try %d)",
                method,
                self._shown(url),
                getattr(response, "status_code", "dropped"),
                attempt + 1,
            )
            if response is None:
                continue  # a dropped connection, waited for
            if not stream:
                self.received += len(response.content)
            if response.status_code == 401 and self._authenticate(response, what or url):
                if start is not None:
                    body.seek(start)
                response = self._send(method, url, body, headers, stream, self.attempts - 1)
            if response.status_code in retried and attempt < self.attempts - 1:
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            return self._checked(response, method, url, expect, what)
        raise RegistryError(
            f"{method} {self._shown(url)}: no answer from {self.host} after {self.attempts} tries"
        )

    def _send(self, method, url, body, headers, stream, attempt):
        merged = dict(headers or {})
        if self._authorization:
            merged["Authorization"] = self._authorization
        try:
            return self.session.request(
                method, url, data=body, headers=merged, timeout=TIMEOUT, stream=stream, allow_redirects=True
            )
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"TLS with {self.host} failed: {_reason(exc)}; put its CA in "
                f"{self.certs_d}/{self.host}/ca.crt, as for the engine"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            if attempt >= self.attempts - 1:
                raise RegistryError(f"cannot reach the registry {self.host}: {_reason(exc)}") from None
            self._wait(attempt, None)
            return None

    @staticmethod
    def _wait(attempt: int, retry_after) -> None:
        seconds = _seconds(retry_after)
        time.sleep(min(0.5 * 2**attempt if seconds is None else seconds, MAX_WAIT))

    def _checked(self, response, method, url, expect, what):
        if response.status_code in expect:
            return response
        detail = _error_detail(response)
        target = what or self._shown(url)
        if response.status_code == 401:
            user = self.credentials.username if self.credentials else ""
            who = f" as {user}" if user else ""
            hint = f"{'check the login: ' if user else ''}`docker login {self.host}`"
            raise RegistryError(f"{self.host} refused {method} on {target}{who} (HTTP 401{detail}): {hint}")
        if response.status_code == 403:
            raise RegistryError(
                f"{self.host} forbids {method} on {target} (HTTP 403{detail}): the login has no right to it"
            )
        raise RegistryError(f"{method} {self._shown(url)}: HTTP {response.status_code}{detail}")

    def _shown(self, url: str) -> str:
        """A URL fit for a message: no query (upload states, tokens), no credentials."""
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"

    # -- authentication ---------------------------------------------------------

    def _authenticate(self, response, what: str) -> bool:
        """Answer a 401's challenge; True when there is something new to try."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials or not self.credentials.basic:
                login = f"`docker login {self.host}`"
                raise RegistryError(f"{self.host} asks for a login to reach {what}: {login}")
            header = "Basic " + base64.b64encode(":".join(self.credentials.basic).encode()).decode()
            if header == self._authorization:
                return False
            self._authorization = header
            return True
        if scheme == "bearer" and params.get("realm"):
            scopes = frozenset(filter(None, params.get("scope", "").split(" "))) | self.scopes
            key = (params["realm"], params.get("service", ""), scopes)
            if self._authorization == f"Bearer {self._tokens.get(key)}":
                del self._tokens[key]  # refused as it was: expired, so a new one
            self._authorization = f"Bearer {self._token(*key)}"
            return True
        return False

    def _token(self, realm: str, service: str, scopes: frozenset) -> str:
        key = (realm, service, scopes)
        if key in self._tokens:
            return self._tokens[key]
        query = [("service", service)] if service else []
        query += [("scope", scope) for scope in sorted(scopes)]
        creds = self.credentials
        try:
            if creds and creds.identity_token:
                form = dict(query, grant_type="refresh_token", refresh_token=creds.identity_token)
                form["client_id"] = "difflayers"
                answer = self.session.post(realm, data=form, timeout=TIMEOUT)
            else:
                auth = creds.basic if creds else None
                answer = self.session.get(realm, params=query, auth=auth, timeout=TIMEOUT)
        except requests.exceptions.RequestException as exc:
            where = _host_of(realm)
            raise RegistryError(f"cannot get a token for {self.host} from {where}: {_reason(exc)}") from None
        if answer.status_code in (401, 403):
            who = f" for {creds.username}" if creds and creds.username else " without a login"
            raise RegistryError(
                f"{_host_of(realm)} refused a token{who} to {', '.join(sorted(scopes)) or 'the registry'} "
                f"(HTTP {answer.status_code}): `docker login {self.host}`"
            )
        if answer.status_code != 200:
            raise RegistryError(f"the token service {_host_of(realm)} answered HTTP {answer.status_code}")
        data = answer.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"the token service {_host_of(realm)} gave no token")
        self._tokens[key] = token
        return token

    # -- the distribution API ---------------------------------------------------

    def manifest(self, repository: str, reference: str, missing_ok: bool = False) -> tuple | None:
        """(media type, bytes, digest) of a manifest or index; None when absent and ``missing_ok``."""
        response = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": ACCEPT},
            expect=(200, 404) if missing_ok else (200,),
            what=f"the manifest {repository}:{reference}",
        )
        if response.status_code == 404:
            return None
        body = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        media_type = json.loads(body).get("mediaType") or media_type
        return media_type, body, sha256_digest(body)

    def referrers(self, repository: str, digest: str, artifact_type: str) -> dict | None:
        """The referrers API's index of what refers to ``digest`` (OCI distribution
        1.1), or None where the registry has none to give: 404 or 405 (no such
        API), another 4xx (GHCR sends it to a GitHub API that answers 404, or
        429 when rate-limited; GAR once to a login page: not an index), all of
        which the client answers with the referrers tag schema. A 429 is tried
        again only when its Retry-After is short (``REFERRERS_WAIT``), at most
        ``REFERRERS_TRIES`` times: the tag schema serves at once, waiting would not."""
        query = urllib.parse.urlencode({"artifactType": artifact_type})
        for attempt in range(REFERRERS_TRIES):
            response = self._request(
                "GET",
                f"/v2/{repository}/referrers/{digest}?{query}",
                headers={"Accept": OCI_INDEX},
                expect=(200, *range(400, 500)),
                what=f"the referrers of {repository}@{digest[:19]}",
                retried=SERVER_ERRORS,
            )
            wait = _seconds(response.headers.get("Retry-After")) if response.status_code == 429 else None
            if wait is None or wait > REFERRERS_WAIT or attempt == REFERRERS_TRIES - 1:
                break
            time.sleep(wait)
        if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith(OCI_INDEX):
            return None
        return response.json()

    @contextlib.contextmanager
    def blob_stream(self, repository: str, digest: str):
        """A read()-able stream of a blob as stored (a layer: gzip), checked
        against its digest when read to the end."""
        response = self._request(
            "GET", f"/v2/{repository}/blobs/{digest}", stream=True, what=f"{repository}@{digest}"
        )
        with response:
            yield _Chunks(response.raw, digest, self)

    def blob(self, repository: str, digest: str) -> bytes:
        body = self._request("GET", f"/v2/{repository}/blobs/{digest}", what=f"{repository}@{digest}").content
        if sha256_digest(body) != digest:
            raise RegistryError(f"blob {digest} from {self.host}/{repository} does not match its digest")
        return body

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", expect=(200, 404), what=f"{repository}@{digest}"
        )
        return response.status_code == 200

    def mount(self, repository: str, digest: str, source: str) -> str | None:
        """Make ``digest`` of ``source`` part of ``repository`` without sending it.

        Returns None when mounted, else the upload the registry opened instead
        (a 202: mounting refused, as ECR without blob mounting or another
        account's repository answer), or one opened here where the registry
        refuses the mount outright (404: a source it does not know; Harbor
        answers 401 or 403 when the login may not read the source; Docker and
        containerd then upload, as here); the caller then copies the blob there.
        """
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        response = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/?{query}",
            expect=(201, 202, 401, 403, 404),
            what=f"{repository} (mounting {digest[:19]} from {source})",
        )
        if response.status_code in (401, 403, 404):
            log.debug(
                "%s refused to mount %s from %s (HTTP %s): uploading",
                self.host,
                digest,
                source,
                response.status_code,
            )
            response = self._request(
                "POST", f"/v2/{repository}/blobs/uploads/", expect=(202,), what=f"{repository} (an upload)"
            )
        return None if response.status_code == 201 else self._location(response)

    def copy_blob(self, location: str, source: str, digest: str, size: int, repository: str, progress) -> int:
        """Upload ``digest`` of ``source`` into the upload at ``location`` (from ``mount``),
        streamed through this machine; returns the bytes sent."""
        with self.blob_stream(source, digest) as chunks:
            if size > CHUNK:
                return self._upload_to(location, chunks, size, digest, repository, progress)
            data = chunks.read()
        if sha256_digest(data) != digest:
            raise RegistryError(f"the blob {digest} read from {source} does not match its digest")
        return self._upload_to(location, data, size, digest, repository, progress)

    def upload(self, repository: str, digest: str, handle, size: int, progress=None) -> int:
        """Upload a blob: in one request, or in chunks when large. A failed
        upload is begun again (the registry drops half-made ones)."""
        for attempt in range(2):
            response = self._request(
                "POST", f"/v2/{repository}/blobs/uploads/", expect=(202,), what=f"{repository} (an upload)"
            )
            location = self._location(response)
            start = handle.tell() if hasattr(handle, "seek") else None
            try:
                return self._upload_to(location, handle, size, digest, repository, progress)
            except RegistryError:
                if attempt or start is None:
                    raise
                handle.seek(start)
        raise AssertionError("unreachable")

    def _upload_to(self, location, handle, size, digest, repository, progress) -> int:
        what = f"{repository}@{digest[:19]}"
        if size <= CHUNK:
            separator = "&" if "?" in location else "?"
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            url = f"{location}{separator}digest={digest}"
            self._request("PUT", url, body=handle, headers=headers, expect=(201,), what=what)
            return size
        sent = 0
        while sent < size:
            block = handle.read(min(CHUNK, size - sent))
            if not block:
                raise RegistryError(f"{what}: the blob ended after {sent} of {size} bytes")
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{sent}-{sent + len(block) - 1}",
                "Content-Length": str(len(block)),
            }
            response = self._request("PATCH", location, body=block, headers=headers, expect=(202,), what=what)
            location = self._location(response)
            sent += len(block)
            if progress:
                progress(f"  uploaded {sent:,} of {size:,} bytes of {digest[:19]}")
        separator = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{separator}digest={digest}", expect=(201,), what=what)
        return sent

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        """Put a manifest under ``tag`` (or a digest); refused here above
        ``MAX_MANIFEST``: registries accept at least 4 MB, some refuse more, and
        distribution 3 takes larger ones that then cannot be pulled."""
        if len(body) > MAX_MANIFEST:
            raise RegistryError(
                f"{self.host}/{repository}:{tag}: a manifest of {len(body):,} bytes is more than the "
                f"{MAX_MANIFEST:,} registries are bound to accept and serve; nothing was put"
            )
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            body=body,
            headers={"Content-Type": media_type},
            expect=(201,),
            what=f"{repository}:{tag}",
        )
        return response.headers.get("Docker-Content-Digest") or sha256_digest(body)

    def _location(self, response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise RegistryError(f"the registry {self.host} gave no upload location")
        return urllib.parse.urljoin(self.base + "/", location)


def _seconds(retry_after) -> float | None:
    """A Retry-After header's seconds (None: absent, or an HTTP date, not waited for)."""
    try:
        return max(float(retry_after), 0.0) if retry_after else None
    except ValueError:
        return None


class _Chunks:
    """A blob's stream from a repository, checked against its digest as read,
    its bytes counted in the registry's ``received``."""

    def __init__(self, raw, digest: str, registry: "Registry"):
        self.raw, self.digest, self.hash = raw, digest, hashlib.sha256()
        self._registry = registry

    def read(self, size: int = -1) -> bytes:
        block = self.raw.read(None if size < 0 else size, decode_content=False)
        self.hash.update(block)
        self._registry.received += len(block)
        if not block and "sha256:" + self.hash.hexdigest() != self.digest:
            raise RegistryError(f"the blob {self.digest} read back does not match its digest")
        return block


def _error_detail(response) -> str:
    """The registry's error code and message (never headers: they may carry tokens)."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors)
    except ValueError:
        text = response.text[:200].strip()
    return f": {text}" if text else ""


def _reason(exc) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "..."


def _host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc

"""Real registries for the push tests, as users meet them: Debian's
docker-registry with htpasswd behind TLS, with distribution's token auth and
an issuer written here, and a loopback proxy that refuses mounts or fails the
first requests of each kind.

Certificates and keys are made with the openssl CLI; a token is a JWT signed
RS256 by ``openssl dgst`` with the issuer's certificate in its ``x5c`` header,
which the registry trusts through ``rootcertbundle``.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

CERTS_D_ENGINE = Path("/etc/docker/certs.d")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def self_signed(folder: Path, name: str, subject: str) -> tuple:
    """(NAME.crt, NAME.key): a fresh self-signed RSA certificate in ``folder``."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)  # fmt: skip
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_ca(folder: Path) -> tuple:
    """(ca.crt, ca.key) of a fresh test CA."""
    return self_signed(folder, "ca", "/CN=difflayers test CA")


def make_server_cert(folder: Path, ca: tuple, ip: str = "127.0.0.1") -> tuple:
    """(server.crt, server.key) for ``ip``, signed by ``ca``."""
    (folder / "san.cnf").write_text(f"subjectAltName=IP:{ip}\n")
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={ip}",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=folder,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
        cwd=folder,
    )
    return folder / "server.crt", folder / "server.key"


def only_in_registry(image: str, remote: str) -> None:
    """``image`` pushed as ``remote``, whose tag is then removed here: OLD as a
    runner that never had it finds it (its layers stay in the engine)."""
    for argv in (["tag", image, remote], ["push", "-q", remote], ["image", "rm", remote]):
        subprocess.run(["docker", *argv], check=True, capture_output=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lan_address() -> str | None:
    """A non-loopback IPv4 address of this machine (the source of a route: a UDP
    socket's own end, no packet sent; else what ``hostname -I`` lists), or None."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        listed = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout
        return next((a for a in listed.split() if "." in a and not a.startswith("127.")), None)


class RegistryServer:
    """docker-registry serving on HOST:PORT (127.0.0.1 unless told) with ``extra``
    config (YAML text), its storage in ``root`` unless another is given."""

    def __init__(self, root: Path, extra: str = "", tls: tuple | None = None, host="127.0.0.1", storage=None):
        self.root, self.port = root, free_port()
        self.address = f"{host}:{self.port}"
        self.storage = storage or root / "storage"
        tls_yaml = f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else ""
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n{tls_yaml}{extra}"
        )
        binary = shutil.which("docker-registry") or shutil.which("registry")
        self.proc = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "registry.log", "wb"),
        )
        for _ in range(100):
            try:
                with socket_connect(self.port, host):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()}")

    def blob_bytes(self) -> int:
        blobs = self.storage / "docker" / "registry" / "v2" / "blobs"
        return sum(p.stat().st_size for p in blobs.rglob("data")) if blobs.exists() else 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def socket_connect(port: int, host: str = "127.0.0.1"):
    import socket

    return socket.create_connection((host, port), timeout=1)


def trust_for_engine(address: str, ca_crt: Path) -> Path:
    """The engine reads /etc/docker/certs.d/HOST/ca.crt without a restart."""
    folder = CERTS_D_ENGINE / address
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca_crt, folder / "ca.crt")
    return folder


def htpasswd_file(path: Path, users: dict) -> None:
    for i, (user, password) in enumerate(users.items()):
        flags = "-Bbc" if i == 0 else "-Bb"
        subprocess.run(["htpasswd", flags, str(path), user, password], check=True, capture_output=True)


def docker_login(config_dir: Path, address: str, user: str, password: str) -> None:
    subprocess.run(
        ["docker", "login", address, "-u", user, "--password-stdin"],
        input=password,
        text=True,
        env={**os.environ, "DOCKER_CONFIG": str(config_dir)},
        check=True,
        capture_output=True,
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """distribution's token flow: GET /token?service=&scope=... with Basic auth,
    answered with a JWT granting what ``grants`` allows each user
    (user -> actions, e.g. {"pusher": {"pull", "push"}, "reader": {"pull"}}).
    Every request's user and scopes are recorded in ``asked``."""

    SERVICE, ISSUER = "difflayers-test-registry", "difflayers-test-issuer"

    def __init__(self, folder: Path, users: dict, grants: dict):
        self.folder, self.users, self.grants = folder, users, grants
        self_signed(folder, "issuer", "/CN=token issuer")
        der = subprocess.run(
            ["openssl", "x509", "-in", "issuer.crt", "-outform", "DER"],
            cwd=folder,
            check=True,
            capture_output=True,
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.asked: list = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                issuer._answer(self)

            def do_POST(self):
                issuer._answer(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def registry_config(self) -> str:
        return (
            f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.SERVICE}\n"
            f"    issuer: {self.ISSUER}\n    rootcertbundle: {self.folder / 'issuer.crt'}\n"
        )

    def _answer(self, request):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        if request.command == "POST":
            length = int(request.headers.get("Content-Length") or 0)
            query = urllib.parse.parse_qs(request.rfile.read(length).decode())
        user, name, password = None, None, None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        elif query.get("grant_type") == ["password"]:  # OAuth2, as containerd asks
            name, password = query.get("username", [""])[0], query.get("password", [""])[0]
        elif query.get("grant_type") == ["refresh_token"]:  # the refresh token is the user's name here
            name = query.get("refresh_token", [""])[0]
            password = self.users.get(name)
        if name is not None:
            if self.users.get(name) != password:
                request.send_response(401)
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
            user = name
        scopes = [s for value in query.get("scope", []) for s in value.split(" ")]
        self.asked.append((user, sorted(scopes)))
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = [a for a in actions.split(",") if a in self.grants.get(user, set())]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        token = self._sign(user or "", access)
        answer = {"token": token, "access_token": token, "expires_in": 300}
        if user and query.get("access_type") == ["offline"] or query.get("grant_type") == ["password"]:
            answer["refresh_token"] = user
        body = json.dumps(answer).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _sign(self, subject: str, access: list) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.ISSUER,
            "sub": subject,
            "aud": self.SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.folder / "issuer.key")],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self):
        self.server.shutdown()


class FaultProxy:
    """A plain-HTTP proxy on loopback in front of a registry. ``refuse_mounts``:
    a mount request is answered 202 with an ordinary upload (as registries that
    do not mount do). ``flaky``: the first request of each kind (method and
    route) is answered by a dropped connection, the second by 503 with
    ``Retry-After: 1``; the third goes through. ``failing``: kinds answered 500
    every time. ``seen`` counts requests by kind, ``sent`` the bytes answered."""

    def __init__(self, upstream_port: int, tls: tuple | None = None):
        self.upstream_port = upstream_port
        self.tls = tls is not None
        self.refuse_mounts = False
        self.flaky = False
        self.failing: set = set()  # kinds always answered 500 (a registry that broke mid-push)
        # A registry's own answers (its dialect): (method, part of the path) ->
        # (status, headers), answered here instead of forwarding.
        self.answers: dict = {}
        self.delays: dict = {}  # (method, part of the path) -> seconds before forwarding
        # GitLab: a tag spelt like a digest (sha256-<hex>) is read as the manifest of that digest.
        self.digest_tags = False
        # The referrers API (ECR, ACR, Harbor, Quay, zot, Docker Hub): a manifest
        # pushed with a subject is listed under GET /v2/<repo>/referrers/<digest>
        # and its PUT answered with OCI-Subject; (repository, subject) -> descriptors.
        self.referrers_api = False
        self.referrers: dict = {}
        self.seen: dict = {}
        self.sent = 0  # bytes of the answers' bodies: what clients downloaded through it
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy._forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            # TLS in front (certificate of the test's CA): the engine then needs no
            # plain-HTTP fallback, which containerd's store does not make for it.
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def kind(method: str, path: str) -> str:
        route = urllib.parse.urlsplit(path).path
        for part in ("/blobs/uploads/", "/blobs/", "/manifests/"):
            if part in route:
                return f"{method} {part}"
        return f"{method} {route}"

    def _body(self, request) -> bytes:
        if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(request.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    request.rfile.readline()
                    return data
                data += request.rfile.read(size)
                request.rfile.readline()
        length = int(request.headers.get("Content-Length") or 0)
        return request.rfile.read(length) if length else b""

    def _forward(self, request):
        body = self._body(request)
        path = request.path
        kind = self.kind(request.command, path)
        with self.lock:
            count = self.seen[kind] = self.seen.get(kind, 0) + 1
        if self.flaky and count == 1:
            request.close_connection = True
            request.connection.shutdown(2)  # dropped, no answer
            return
        for (method, part), seconds in self.delays.items():
            if request.command == method and part in path:
                time.sleep(seconds)
        for (method, part), (status, extra) in self.answers.items():
            if request.command == method and part in path:
                request.send_response(status)
                for key, value in extra.items():
                    request.send_header(key, value)
                request.send_header("Content-Length", "0")
                request.end_headers()
                return
        if self.referrers_api and request.command == "GET" and "/referrers/" in path:
            self._answer_referrers(request, path)
            return
        if kind in self.failing or (self.flaky and count == 2):
            request.send_response(500 if kind in self.failing else 503)
            request.send_header("Retry-After", "1")
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if self.digest_tags and request.command in ("GET", "HEAD"):
            path = re.sub(r"/manifests/sha256-([0-9a-f]{64})$", r"/manifests/sha256:\1", path)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if self.refuse_mounts and request.command == "POST" and "mount" in query:
            path = urllib.parse.urlsplit(path).path  # an ordinary upload instead
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("transfer-encoding", "connection")
        }
        headers["Content-Length"] = str(len(body))
        if self.tls:
            headers["X-Forwarded-Proto"] = "https"  # the registry's Locations point back here, over TLS
        upstream.request(request.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        request.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                request.send_header(key, value)
        if self.referrers_api and request.command == "PUT" and "/manifests/" in path and answer.status == 201:
            subject = self._record_referrer(path, body)
            if subject:
                request.send_header("OCI-Subject", subject)
        length = answer.getheader("Content-Length") if request.command == "HEAD" else None
        request.send_header("Content-Length", length or str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
            with self.lock:
                self.sent += len(data)
        upstream.close()

    def _record_referrer(self, path: str, body: bytes) -> str | None:
        """List a manifest pushed with a subject as the referrers API does: its
        descriptor with its artifactType (else its config's) and annotations."""
        try:
            manifest = json.loads(body)
            subject = manifest["subject"]["digest"]
        except (ValueError, KeyError, TypeError):
            return None
        repository = urllib.parse.urlsplit(path).path.split("/v2/", 1)[1].rsplit("/manifests/", 1)[0]
        descriptor = {
            "mediaType": manifest.get("mediaType"),
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "artifactType": manifest.get("artifactType") or manifest.get("config", {}).get("mediaType"),
            "annotations": manifest.get("annotations") or {},
        }
        with self.lock:
            listed = self.referrers.setdefault((repository, subject), [])
            if descriptor not in listed:
                listed.append(descriptor)
        return subject

    def _answer_referrers(self, request, path: str):
        """GET /v2/<repo>/referrers/<digest>[?artifactType=]: an OCI index of
        what refers to the digest, filtered when asked (OCI-Filters-Applied)."""
        split = urllib.parse.urlsplit(path)
        repository, subject = split.path.split("/v2/", 1)[1].rsplit("/referrers/", 1)
        wanted = urllib.parse.parse_qs(split.query).get("artifactType")
        with self.lock:
            listed = list(self.referrers.get((repository, subject), []))
        if wanted:
            listed = [entry for entry in listed if entry["artifactType"] in wanted]
        data = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": listed}
        ).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
        if wanted:
            request.send_header("OCI-Filters-Applied", "artifactType")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
        with self.lock:
            self.sent += len(data)

    def stop(self):
        self.server.shutdown()


def manifest(
    address: str, repository: str, reference: str, authorization: str = "", scheme="http", ca=None, raw=False
):
    """A manifest (or index) as JSON, or its bytes (``raw``); None when the registry has none."""
    import ssl

    accept = ", ".join(
        "application/vnd." + kind
        for kind in (
            "docker.distribution.manifest.v2+json",
            "oci.image.manifest.v1+json",
            "docker.distribution.manifest.list.v2+json",
            "oci.image.index.v1+json",
        )
    )
    headers = {"Accept": accept, **({"Authorization": authorization} if authorization else {})}
    request = urllib.request.Request(
        f"{scheme}://{address}/v2/{repository}/manifests/{reference}", headers=headers
    )
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        body = urllib.request.urlopen(request, context=context, timeout=30).read()
        return body if raw else json.loads(body)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise

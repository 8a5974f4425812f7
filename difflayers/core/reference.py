"""Image references as Docker reads them, checked before any work.

The grammar is distribution's (``reference/regexp.go``): an optional
registry host (a name with a dot or a port, ``localhost``, or an IPv6 address
in brackets), path components of lowercase letters and digits joined by
``.``, ``_``, ``__`` or dashes, then ``:TAG`` and/or ``@DIGEST``.
"""

import re
from dataclasses import dataclass

from difflayers.errors import BadInput

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255
# Docker Hub: the name users write, the aliases Docker accepts, and the API host.
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
DOCKER_HUB_API = "registry-1.docker.io"


def check_tag_reference(text: str, what: str = "-t") -> str:
    """Return ``text`` if it can name an image to tag or push (``NAME[:TAG]``), else say why.

    >>> check_tag_reference("registry:5000/team/app:2")
    'registry:5000/team/app:2'
    """
    if not text:
        raise BadInput(f"{what}: the image reference is empty")
    if "@" in text:
        raise BadInput(f"{what} {text!r}: a digest names content, it cannot be given as a tag")
    name, tag = text, None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = text.rpartition(":")
    if tag is not None and not _TAG.fullmatch(tag):
        why = "the tag after ':' is empty" if tag == "" else f"{tag!r} is not a valid tag"
        raise BadInput(f"{what} {text!r}: {why} (letters, digits, '_', '.', '-'; at most 128)")
    if not _NAME.fullmatch(name):
        hint = " (repository names are lowercase)" if name != name.lower() else ""
        raise BadInput(f"{what} {text!r}: {name!r} is not a valid repository name{hint}")
    if len(name) > MAX_NAME:
        raise BadInput(f"{what} {text!r}: the repository name is longer than {MAX_NAME} characters")
    return text


def full_name(reference: str) -> str:
    """A reference as containerd names images: registry and ``library/`` made explicit.

    >>> full_name("app:2"), full_name("user/app"), full_name("127.0.0.1:5000/app:1")
    ('docker.io/library/app:2', 'docker.io/user/app:latest', '127.0.0.1:5000/app:1')
    """
    name, tag = reference, "latest"
    if ":" in reference.rsplit("/", 1)[-1]:
        name, _, tag = reference.rpartition(":")
    if names_a_host(name):
        return f"{name}:{tag}"
    first, _, rest = name.partition("/")
    return f"docker.io/{name if rest else 'library/' + name}:{tag}"


def names_a_host(reference: str) -> bool:
    """Whether ``reference`` starts with a registry host (Docker's rule: a first
    component with a dot or a port, ``localhost`` or an IPv6 address), not
    Docker Hub's by default."""
    first, _, rest = reference.partition("/")
    return bool(rest) and _is_host(first)


def _is_host(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first.startswith("[")


@dataclass(frozen=True)
class Reference:
    """``host/repository`` and a tag or digest, normalised as Docker does:
    ``app`` is ``docker.io/library/app:latest``."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """Where the registry API answers (Docker Hub's is not docker.io)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"{self.host}/{self.repository}{suffix}"


def parse_reference(text: str) -> Reference:
    """Read a reference as Docker does: ``app``, ``user/app``, ``docker.io/user/app``,
    ``registry:5000/ns/app:tag``, each with an optional ``@sha256:...``.

    >>> str(parse_reference("app")), str(parse_reference("user/app:2"))
    ('docker.io/library/app:latest', 'docker.io/user/app:2')
    """
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise BadInput(f"{text!r}: {digest!r} is not a sha256 digest")
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, _, tag = name.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise BadInput(f"{text!r}: {tag!r} is not a valid tag")
    first, _, rest = name.partition("/")
    host, repository = (first, rest) if rest and _is_host(first) else (DOCKER_HUB, name)
    if host in DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not repository or not _NAME.fullmatch(repository) or ":" in repository.split("/")[0]:
        hint = " (repository names are lowercase)" if repository != repository.lower() else ""
        raise BadInput(f"{text!r}: {repository!r} is not a valid repository name{hint}")
    return Reference(host, repository, tag, digest)

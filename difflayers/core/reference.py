"""Image references as Docker reads them, checked before any work.

The grammar is distribution's (``reference/regexp.go``): an optional
registry host (a name with a dot or a port, ``localhost``, or an IPv6 address
in brackets), path components of lowercase letters and digits joined by
``.``, ``_``, ``__`` or dashes, then ``:TAG`` and/or ``@DIGEST``.
"""

import re

from difflayers.errors import BadInput

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
MAX_NAME = 255


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
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return f"{name}:{tag}"
    return f"docker.io/{name if rest else 'library/' + name}:{tag}"

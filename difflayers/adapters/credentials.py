"""Registry credentials found the way Docker finds them: nothing new to set.

``DOCKER_CONFIG`` (or ``~/.docker``)``/config.json``: its ``auths`` entries,
its ``credsStore`` and per-registry ``credHelpers`` (the docker SDK runs the
``docker-credential-*`` helper). What ``docker login HOST`` stored is what
the kit uses. The secret never leaves this object's fields: its repr hides
it, and no message, log or file of the kit prints it.
"""

from dataclasses import dataclass, field

from difflayers.core.reference import DOCKER_HUB
from difflayers.errors import RegistryError


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    # An OAuth refresh token (what `docker login` stores for some registries).
    identity_token: str = field(default="", repr=False)

    @property
    def basic(self) -> tuple | None:
        return (self.username, self.password) if self.username and self.password else None


def credentials_for(host: str) -> Credentials | None:
    """What Docker's config holds for ``host`` (``docker.io`` for Docker Hub), or None."""
    # The SDK's auth module: the one place that knows config.json and helpers.
    from docker import auth
    from docker.errors import DockerException

    try:
        config = auth.load_config()
        found = config.resolve_authconfig(auth.INDEX_NAME if host == DOCKER_HUB else host)
    except DockerException as exc:
        raise RegistryError(f"cannot read Docker's credentials for {host}: {exc}") from None
    if not found:
        return None
    lower = {key.lower(): value for key, value in found.items()}
    credentials = Credentials(
        lower.get("username") or "", lower.get("password") or "", lower.get("identitytoken") or ""
    )
    return credentials if credentials.basic or credentials.identity_token else None

"""Where the kit looks for an engine: Docker's order, then Podman's sockets."""

from difflayers.adapters.enginehost import DEFAULT_SOCKET, PODMAN_ROOTFUL, Endpoint, candidates


def default_context(name):
    return ("default", f"unix://{DEFAULT_SOCKET}") if name in (None, "default") else (name, "tcp://far:2376")


def look(environ, sockets=(), context=default_context):
    return candidates(environ, context, lambda path: path in sockets)


def test_docker_host_wins_and_is_the_only_place_looked_at():
    found = look({"DOCKER_HOST": "tcp://h:2375", "CONTAINER_HOST": "unix:///x"}, {DEFAULT_SOCKET})
    assert found == [Endpoint("tcp://h:2375", "DOCKER_HOST")]
    assert found[0].cli_env() == {"DOCKER_HOST": "tcp://h:2375"}


def test_a_docker_context_comes_next_and_the_cli_gets_the_same_context():
    used = lambda name: ("remote", "ssh://me@far") if name is None else (name, "tcp://far:2376")  # noqa: E731
    (found,) = look({"CONTAINER_HOST": "unix:///x"}, {DEFAULT_SOCKET}, used)
    assert (found.host, found.context) == ("ssh://me@far", "remote")
    assert found.cli_env() == {"DOCKER_CONTEXT": "remote"}
    (named,) = look({"DOCKER_CONTEXT": "ci"}, {DEFAULT_SOCKET})
    assert named.context == "ci" and "'ci'" in named.named_by


def test_podman_users_are_found_by_container_host_or_their_socket():
    rootless = "/run/user/1000/podman/podman.sock"
    assert look({"CONTAINER_HOST": f"unix://{rootless}"})[0].named_by == "CONTAINER_HOST"
    found = look({"XDG_RUNTIME_DIR": "/run/user/1000"}, {rootless, PODMAN_ROOTFUL})
    assert [e.host for e in found] == [f"unix://{rootless}", f"unix://{PODMAN_ROOTFUL}"]


def test_docker_socket_first_and_named_when_nothing_is_there():
    found = look({"XDG_RUNTIME_DIR": "/run/user/0"}, {DEFAULT_SOCKET, PODMAN_ROOTFUL})
    assert [e.host for e in found] == [f"unix://{DEFAULT_SOCKET}", f"unix://{PODMAN_ROOTFUL}"]
    assert look({}) == [Endpoint(f"unix://{DEFAULT_SOCKET}", "Docker's socket")]

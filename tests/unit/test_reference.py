"""Image references as Docker reads them: refused before any work, with the reason."""

import pytest

from difflayers.core.reference import check_tag_reference
from difflayers.errors import BadInput


@pytest.mark.parametrize(
    "ok",
    [
        "app",
        "app:2",
        "user/app",
        "docker.io/user/app:latest",
        "registry:5000/ns/app:v1.2_3-rc",
        "localhost/app",
        "127.0.0.1:5000/a__b/c-d.e:x",
        "[::1]:5000/app:1",
    ],
)
def test_valid_references(ok):
    assert check_tag_reference(ok) == ok


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("name:", "the tag after ':' is empty"),
        ("x:a:b", "'x:a' is not a valid repository name"),
        ("App:1", "lowercase"),
        ("app:-x", "'-x' is not a valid tag"),
        ("app@sha256:" + "a" * 64, "a digest names content"),
        ("", "empty"),
        ("app/", "not a valid repository name"),
        ("a" * 256, "longer than 255"),
        ("app:" + "t" * 129, "is not a valid tag"),
    ],
)
def test_invalid_references_say_why(bad, reason):
    with pytest.raises(BadInput, match=reason.replace("(", r"\(")):
        check_tag_reference(bad)

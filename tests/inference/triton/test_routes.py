"""Routes of the Triton extensions in the KServe routing table, with OVMS's 400/406 rules kept."""

import pytest

from inference.protocols.errors import InferenceError
from inference.protocols.routing import SCOPE_OF_KIND, Kind, resolve


@pytest.mark.parametrize(
    "method,path,kind,name,version",
    [
        ("GET", "/v2/models/stats", Kind.KFS_STATISTICS, "", None),
        ("GET", "/v2/models/simple/stats", Kind.KFS_STATISTICS, "simple", None),
        ("GET", "/v2/models/simple/versions/3/stats", Kind.KFS_STATISTICS, "simple", 3),
        ("GET", "/v2/models/simple/config", Kind.KFS_MODEL_CONFIG, "simple", None),
        ("GET", "/v2/models/simple/versions/2/config", Kind.KFS_MODEL_CONFIG, "simple", 2),
        ("POST", "/v2/repository/index", Kind.REPOSITORY_INDEX, "", None),
        ("POST", "/v2/repository/models/simple/load", Kind.REPOSITORY_LOAD, "simple", None),
        ("POST", "/v2/repository/models/simple/unload", Kind.REPOSITORY_UNLOAD, "simple", None),
        (
            "GET",
            "/v2/models/stats/ready",
            Kind.KFS_MODEL_READY,
            "stats",
            None,
        ),  # a model may be called "stats"
    ],
)
def test_extension_paths(method, path, kind, name, version):
    route = resolve(method, path)
    assert (route.kind, route.name, route.version) == (kind, name, version)


@pytest.mark.parametrize(
    "method,path",
    [("POST", "/v2/models/stats"), ("POST", "/v2/models/m/stats"), ("POST", "/v2/models/m/versions/1/config"),
     ("GET", "/v2/repository/index"), ("GET", "/v2/repository/models/m/load"), ("PUT", "/v2/repository/models/m/unload")],
)  # fmt: skip
def test_wrong_method_is_406(method, path):
    with pytest.raises(InferenceError) as caught:
        resolve(method, path)
    assert (caught.value.status, caught.value.text) == (406, "Unsupported method")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/repository",
        "/v2/repository/models/m",
        "/v2/repository/models/m/reload",
        "/v2/models/m/versions/-1/stats",
    ],
)
def test_unknown_paths_stay_400(path):
    for method in ("GET", "POST"):
        with pytest.raises(InferenceError) as caught:
            resolve(method, path)
        assert (caught.value.status, caught.value.text) == (400, "Invalid request URL")


def test_every_route_declares_its_scope_and_repository_changes_need_deploy():
    assert set(SCOPE_OF_KIND) == set(Kind)
    assert set(SCOPE_OF_KIND.values()) <= {"open", "read", "write", "deploy", "infer", "admin"}
    assert SCOPE_OF_KIND[Kind.REPOSITORY_LOAD] == SCOPE_OF_KIND[Kind.REPOSITORY_UNLOAD] == "deploy"
    assert SCOPE_OF_KIND[Kind.KFS_STATISTICS] == SCOPE_OF_KIND[Kind.KFS_MODEL_CONFIG] == "infer"
    assert SCOPE_OF_KIND[Kind.REPOSITORY_INDEX] == "read"

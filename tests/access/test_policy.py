"""The decision table of access.policy, mode by mode."""

import pytest

from access.policy import (
    ADMIN,
    ANONYMOUS,
    KEY_SCOPES,
    SCOPES,
    AccessDenied,
    Principal,
    authorize_grpc,
    bearer_token,
    decide,
)


def key(*scopes: str) -> Principal:
    return Principal(name="ci", kind="key", scopes=frozenset(scopes))


def test_off_lets_everyone_do_everything(auth_mode) -> None:
    auth_mode("off")
    for scope in SCOPES:
        assert decide(scope, None) is ANONYMOUS


@pytest.mark.parametrize("scope", ["open", "read", "infer"])
def test_writes_leaves_reads_and_inference_anonymous(auth_mode, scope: str) -> None:
    auth_mode("writes")
    assert decide(scope, None) is ANONYMOUS


@pytest.mark.parametrize("scope", ["write", "deploy", "admin"])
def test_writes_needs_a_key_with_the_scope_for_changes(auth_mode, scope: str) -> None:
    auth_mode("writes")
    with pytest.raises(AccessDenied) as anonymous:
        decide(scope, None)
    assert anonymous.value.status == 401 and anonymous.value.grpc_code == "UNAUTHENTICATED"
    others = [s for s in KEY_SCOPES if s not in (scope, ADMIN)]
    with pytest.raises(AccessDenied) as lacking:
        decide(scope, key(*others))
    assert lacking.value.status == 403 and lacking.value.grpc_code == "PERMISSION_DENIED"
    assert decide(scope, key(scope)).name == "ci"
    assert decide(scope, key(ADMIN)).name == "ci"  # admin implies every scope


@pytest.mark.parametrize("scope", ["read", "write", "deploy", "infer", "admin"])
def test_all_needs_a_key_for_everything_but_open(auth_mode, scope: str) -> None:
    auth_mode("all")
    assert decide("open", None) is ANONYMOUS
    with pytest.raises(AccessDenied) as anonymous:
        decide(scope, None)
    assert anonymous.value.status == 401
    assert decide(scope, key(scope)).name == "ci"


def test_an_unknown_scope_is_refused_even_when_off(auth_mode) -> None:
    auth_mode("off")
    with pytest.raises(AccessDenied):
        decide("reed", None)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "Token abc"])
def test_only_bearer_is_accepted(header: str) -> None:
    with pytest.raises(AccessDenied) as denied:
        bearer_token(header)
    assert denied.value.status == 401


def test_bearer_is_case_insensitive_and_trimmed() -> None:
    assert bearer_token(b"bearer  mh_x.y ") == "mh_x.y"
    assert bearer_token(None) is None


@pytest.mark.django_db
def test_authorize_grpc_reads_the_method_table_and_the_authorization_metadata(auth_mode, make_key) -> None:
    auth_mode("all")
    table = {
        "/inference.GRPCInferenceService/ModelInfer": "infer",
        "/inference.GRPCInferenceService/ServerLive": "open",
    }
    secret = make_key("infer")
    principal = authorize_grpc(
        "/inference.GRPCInferenceService/ModelInfer", [("authorization", f"Bearer {secret}")], scopes=table
    )
    assert principal.kind == "key"
    assert authorize_grpc("/inference.GRPCInferenceService/ServerLive", [], scopes=table) is ANONYMOUS
    with pytest.raises(AccessDenied) as anonymous:
        authorize_grpc("/inference.GRPCInferenceService/ModelInfer", [], scopes=table)
    assert anonymous.value.grpc_code == "UNAUTHENTICATED"
    with pytest.raises(AccessDenied) as unknown:  # fail closed: a method without a policy
        authorize_grpc(
            "/inference.GRPCInferenceService/Other", [("authorization", f"Bearer {secret}")], scopes=table
        )
    assert unknown.value.grpc_code == "PERMISSION_DENIED"


@pytest.mark.django_db(transaction=True)
def test_async_authorize_grpc_decides_the_same(auth_mode, make_key) -> None:
    import asyncio

    from access.policy import aauthorize_grpc

    auth_mode("writes")
    table = {"/m/Infer": "infer", "/m/Load": "deploy"}
    secret = make_key("deploy")
    assert asyncio.run(aauthorize_grpc("/m/Infer", [], scopes=table)) is ANONYMOUS
    assert (
        asyncio.run(aauthorize_grpc("/m/Load", [("authorization", f"Bearer {secret}")], scopes=table)).kind
        == "key"
    )
    with pytest.raises(AccessDenied) as denied:
        asyncio.run(aauthorize_grpc("/m/Load", [], scopes=table))
    assert denied.value.status == 401


def test_authorize_grpc_without_a_grpc_module_refuses_every_method(auth_mode, settings) -> None:
    auth_mode("off")
    settings.MODELHUB_GRPC_SCOPES_MODULE = "no_such_module_here"
    with pytest.raises(AccessDenied):
        authorize_grpc("/inference.GRPCInferenceService/ModelInfer", [])

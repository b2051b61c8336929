"""API keys: hashed at rest, expiry, revocation (with the cache's TTL), throttled last_used, the command and
the admin."""

import io
import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from access import keys
from access.models import APIKey
from access.policy import AccessDenied

pytestmark = pytest.mark.django_db


def test_only_a_hash_of_the_secret_is_stored(make_key) -> None:
    secret = make_key("read")
    row = APIKey.objects.get()
    assert secret.startswith(f"mh_{row.prefix}.")
    stored = " ".join(str(value) for value in APIKey.objects.values().get().values())
    assert secret.split(".", 1)[1] not in stored
    assert keys.verify_key(secret).name == row.name


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # wrong secret, right prefix
        lambda s: "mh_000000000000." + s.split(".", 1)[1],  # unknown prefix
        lambda s: s.replace(".", ""),  # malformed
        lambda s: "x" + s,
    ],
)
def test_a_wrong_key_is_refused(make_key, mangle) -> None:
    secret = make_key("read")
    with pytest.raises(AccessDenied) as denied:
        keys.verify_key(mangle(secret))
    assert denied.value.status == 401


def test_an_expired_key_is_refused(make_key) -> None:
    secret = make_key("read", expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(AccessDenied):
        keys.verify_key(secret)


def test_a_revoked_key_stops_working_once_the_cache_expires(make_key, settings) -> None:
    settings.MODELHUB_KEY_CACHE_SECONDS = 0.0  # no cache: revocation is immediate
    secret = make_key("read")
    assert keys.verify_key(secret)
    APIKey.objects.update(revoked=True)  # as another process would: this process's cache is not told
    with pytest.raises(AccessDenied):
        keys.verify_key(secret)


def test_revoking_through_the_service_clears_this_process_cache(make_key) -> None:
    secret = make_key("read")
    keys.verify_key(secret)
    assert keys.key_revoke(key_id=APIKey.objects.get().pk)
    with pytest.raises(AccessDenied):
        keys.verify_key(secret)


def test_a_cached_key_answers_without_the_database(make_key, django_assert_num_queries) -> None:
    secret = make_key("read")
    keys.verify_key(secret)
    with django_assert_num_queries(0):
        keys.verify_key(secret)


def test_last_used_is_written_at_most_once_a_minute(make_key, settings) -> None:
    settings.MODELHUB_KEY_CACHE_SECONDS = 0.0
    secret = make_key("read")
    assert APIKey.objects.get().last_used_at is None
    keys.verify_key(secret)
    first = APIKey.objects.get().last_used_at
    assert first is not None
    keys.verify_key(secret)
    assert APIKey.objects.get().last_used_at == first
    APIKey.objects.update(last_used_at=first - timedelta(minutes=2))
    keys.verify_key(secret)
    assert APIKey.objects.get().last_used_at > first - timedelta(minutes=2)


def test_create_api_key_prints_the_key_once_and_never_logs_it(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key", "ci", "--scopes", "read,deploy", "--expires-in-days", "30", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    row = APIKey.objects.get(name="ci")
    assert row.scopes == ["deploy", "read"] and row.expires_at is not None
    assert keys.verify_key(secret).scopes == {"deploy", "read"}
    assert secret not in err.getvalue() and secret not in caplog.text
    assert "shown only now" in err.getvalue()


@pytest.mark.parametrize("scopes", ["", "read,root", "open"])
def test_create_api_key_refuses_unknown_scopes(scopes: str) -> None:
    with pytest.raises(CommandError, match="Scopes must be"):
        call_command("create_api_key", "ci", "--scopes", scopes, stdout=io.StringIO(), stderr=io.StringIO())


def test_create_api_key_refuses_a_taken_name() -> None:
    call_command("create_api_key", "ci", "--scopes", "read", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_key", "ci", "--scopes", "read", stdout=io.StringIO(), stderr=io.StringIO())


def test_admin_creates_a_key_shows_it_once_and_revokes_it() -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/access/apikey/add/",
        {"name": "deployer", "scopes": ["deploy", "read"], "expires_at": ""},
        follow=True,
    )
    assert response.status_code == 200
    row = APIKey.objects.get(name="deployer")
    assert row.created_by == admin and row.scopes == ["deploy", "read"]
    shown = [str(message) for message in response.context["messages"]]
    secret = next(word for text in shown for word in text.split() if word.startswith("mh_"))
    assert keys.verify_key(secret).name == "deployer"
    listing = client.get("/admin/access/apikey/")
    assert secret not in listing.content.decode() and row.prefix in listing.content.decode()
    client.post("/admin/access/apikey/", {"action": "revoke", "_selected_action": [row.pk]})
    assert APIKey.objects.get(pk=row.pk).revoked
    with pytest.raises(AccessDenied):
        keys.verify_key(secret)


def test_user_scopes_come_from_superuser_staff_and_permissions() -> None:
    from django.contrib.auth.models import Group, Permission

    assert keys.principal_for_user(User.objects.create_superuser("root", "r@e.com", "pw")).has("deploy")
    staff = User.objects.create_user("staff", is_staff=True)
    assert keys.principal_for_user(staff).scopes == {"read"}
    group = Group.objects.create(name="deployers")
    group.permissions.add(Permission.objects.get(codename="scope_deploy"))
    operator = User.objects.create_user("operator")
    operator.groups.add(group)
    assert keys.principal_for_user(User.objects.get(pk=operator.pk)).scopes == {"deploy"}

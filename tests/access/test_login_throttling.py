"""Admin login throttling (django-axes): repeated failures lock the user name out, with a clear message."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_fifth_failed_login_locks_the_account_with_a_clear_message(settings) -> None:
    settings.AXES_ENABLED = True
    User.objects.create_superuser("root", "root@example.com", "right-password")
    client = Client()
    for _ in range(4):
        response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"})
        assert response.status_code == 200  # the ordinary "wrong password" form
    fifth = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong"})
    assert fifth.status_code == 429
    locked = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "right-password"})
    assert locked.status_code == 429  # even the right password, until the lockout ends
    text = locked.content.decode()
    assert "Too many failed logins" in text and "axes_reset_username" in text
    assert "0:15:00" in text
    assert not client.get("/admin/").wsgi_request.user.is_authenticated

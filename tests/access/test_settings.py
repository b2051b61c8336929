"""Security settings read from the environment: defaults by bind address, secrets from files, HTTPS."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigurationError, env_str

ROOT = Path(__file__).resolve().parents[2]


def settings_of(tmp_path: Path, *names: str, **env: str) -> list[str]:
    """The named settings as a fresh process sees them with this environment (or the error it fails with)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODELHUB_AUTH", "HOST", "DJANGO_"))
    }
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "try:\n from django.conf import settings\n"
        f" print(*[repr(getattr(settings, n)) for n in {list(names)!r}], sep='\\n')\n"
        "except Exception as e:\n print('ERROR', type(e).__name__, e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "MODELHUB_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()


def test_loopback_default_is_off_and_loopback_hosts(tmp_path) -> None:
    mode, hosts = settings_of(tmp_path, "MODELHUB_AUTH", "ALLOWED_HOSTS")
    assert mode == "'off'" and "'*'" not in hosts and "'localhost'" in hosts


def test_another_address_defaults_to_writes_and_refuses_off(tmp_path) -> None:
    mode, hosts = settings_of(tmp_path, "MODELHUB_AUTH", "ALLOWED_HOSTS", HOST="10.1.2.3")
    assert mode == "'writes'" and "'10.1.2.3'" in hosts
    [hosts] = settings_of(tmp_path, "ALLOWED_HOSTS", HOST="10.1.2.3", DJANGO_ALLOWED_HOSTS="hub.example.com")
    assert "'10.1.2.3'" in hosts and "'hub.example.com'" in hosts
    [error] = settings_of(tmp_path, "MODELHUB_AUTH", HOST="10.1.2.3", MODELHUB_AUTH="off")
    assert error.startswith("ERROR ConfigurationError") and "loopback" in error


def test_every_address_needs_the_host_names(tmp_path) -> None:
    [error] = settings_of(tmp_path, "ALLOWED_HOSTS", HOST="0.0.0.0")
    assert "DJANGO_ALLOWED_HOSTS" in error
    [hosts] = settings_of(tmp_path, "ALLOWED_HOSTS", HOST="0.0.0.0", DJANGO_ALLOWED_HOSTS="hub.example.com")
    assert "'hub.example.com'" in hosts


def test_https_switches_secure_cookies_hsts_and_the_proxy_header(tmp_path) -> None:
    values = settings_of(
        tmp_path, "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER",
        MODELHUB_HTTPS="1",
    )  # fmt: skip
    assert values == ["True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO', 'https')"]
    assert settings_of(tmp_path, "SESSION_COOKIE_SECURE")[0] == "False"


def test_secrets_come_from_files(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-0123456789\n")
    [key] = settings_of(tmp_path, "SECRET_KEY", DJANGO_SECRET_KEY_FILE=str(secret))
    assert key == "'from-a-file-0123456789'"
    [token] = settings_of(tmp_path, "GETI_TOKEN", GETI_TOKEN_FILE=str(secret))
    assert token == "'from-a-file-0123456789'"
    [error] = settings_of(tmp_path, "GETI_TOKEN", GETI_TOKEN_FILE=str(secret), GETI_TOKEN="inline")
    assert "Both GETI_TOKEN and GETI_TOKEN_FILE" in error and "from-a-file" not in error


@pytest.mark.parametrize(
    "name",
    [
        "GETI_TOKEN",
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "MODELHUB_S3_ACCESS_KEY_ID",
        "MODELHUB_S3_SECRET_ACCESS_KEY",
        "REDIS_URL",
    ],
)
def test_env_str_reads_name_file(monkeypatch, tmp_path, name: str) -> None:
    path = tmp_path / "value"
    path.write_text("  value-from-file \n")
    monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"{name}_FILE", str(path))
    assert env_str(name) == "value-from-file"
    monkeypatch.setenv(name, "inline")
    with pytest.raises(ConfigurationError, match="set only one"):
        env_str(name)
    monkeypatch.delenv(name)
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        env_str(name)


def test_forwarded_headers_are_trusted_from_no_one_unless_proxies_are_named() -> None:
    """Finding 5: uvicorn's default trusts 127.0.0.1, even when the operator never set a proxy up."""
    from config.serve import proxy_header_options

    environ = {"FORWARDED_ALLOW_IPS": "*"}
    assert proxy_header_options(environ) == ["--no-proxy-headers"]  # type: ignore[arg-type]
    assert "FORWARDED_ALLOW_IPS" not in environ
    assert proxy_header_options({"MODELHUB_FORWARDED_ALLOW_IPS": "10.0.0.10,10.0.1.0/24"}) == [  # type: ignore[arg-type]
        "--proxy-headers",
        "--forwarded-allow-ips",
        "10.0.0.10,10.0.1.0/24",
    ]


def test_a_proxy_list_that_is_not_addresses_fails_loudly(tmp_path) -> None:
    (error,) = settings_of(tmp_path, "FORWARDED_ALLOW_IPS", MODELHUB_FORWARDED_ALLOW_IPS="nginx.internal")
    assert error.startswith("ERROR ConfigurationError") and "MODELHUB_FORWARDED_ALLOW_IPS" in error
    assert settings_of(tmp_path, "FORWARDED_ALLOW_IPS", MODELHUB_FORWARDED_ALLOW_IPS="10.0.0.10") == [
        "['10.0.0.10']"
    ]

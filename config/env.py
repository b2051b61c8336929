"""Typed readers for environment variables: every setting comes from here and fails loudly when malformed."""

import os
from pathlib import Path


class ConfigurationError(RuntimeError):
    pass


def env_str(name: str, default: str = "") -> str:
    """NAME, else the content of the file named by NAME_FILE (Docker/Kubernetes secrets), else the default.

    Setting both is a mistake the operator must hear about: which one wins would be a guess.
    """
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE", "").strip()
    if file_name:
        if value is not None and value.strip():
            raise ConfigurationError(f"Both {name} and {name}_FILE are set; set only one of them")
        try:
            return Path(file_name).expanduser().read_text().strip()
        except OSError as error:
            raise ConfigurationError(
                f"{name}_FILE names a file that cannot be read: {error.strerror}"
            ) from None
    return (default if value is None else value).strip()


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be one of {sorted(_TRUE | _FALSE)}, got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = env_str(name)
    return (Path(raw).expanduser() if raw else default).resolve()

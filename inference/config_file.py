"""An OVMS `config.json` (MODEL_CONFIG_PATH): models served from OVMS-layout folders `<base_path>/<version>/`.

Only `model_config_list` is used; pipelines and MediaPipe graphs are OVMS features outside this service.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)


class ConfigFileMissing(Exception):
    pass


class ConfigFileInvalid(Exception):
    pass


@dataclass(frozen=True)
class ConfigModel:
    name: str
    base_path: Path
    version_policy: dict[str, Any]
    target_device: str | None
    plugin_config: dict[str, Any]
    nireq: int | None
    shape: Any
    batch_size: int | None


def config_signature(path: str) -> tuple[int, int] | None:
    """(mtime_ns, size) of the config file; None when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def read_config(path: str) -> list[ConfigModel]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigFileMissing(f"{path}: {exc.strerror}") from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigFileInvalid(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigFileInvalid(f"{path}: the top level must be an object")
    entries = document.get("model_config_list", [])
    if not isinstance(entries, list):
        raise ConfigFileInvalid(f"{path}: model_config_list must be a list")
    for ignored in ("pipeline_config_list", "mediapipe_config_list", "custom_node_library_config_list"):
        if document.get(ignored):
            logger.warning("%s: %s is not supported and is ignored", path, ignored)
    models = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        config = entry.get("config") if isinstance(entry, dict) else None
        if not isinstance(config, dict):
            raise ConfigFileInvalid(f'{path}: model_config_list[{index}] must be {{"config": {{...}}}}')
        model = _model(config, Path(path).parent, f"model_config_list[{index}]")
        if model.name in names:
            raise ConfigFileInvalid(f"{path}: model name {model.name!r} is used twice")
        names.add(model.name)
        models.append(model)
    return models


def _model(config: dict[str, Any], root: Path, where: str) -> ConfigModel:
    name = config.get("name")
    base_path = config.get("base_path")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigFileInvalid(f"{where}: name must be a non-empty string without '/'")
    if not isinstance(base_path, str) or not base_path:
        raise ConfigFileInvalid(f"{where}: base_path must be a folder path")
    if "://" in base_path:
        raise ConfigFileInvalid(f"{where}: only local base_path folders are supported, got {base_path!r}")
    policy = config.get("model_version_policy", {"latest": {"num_versions": 1}})
    validate_version_policy(policy, where)
    plugin_config = config.get("plugin_config", {})
    if isinstance(plugin_config, str):  # OVMS also takes the plugin config as a JSON string
        try:
            plugin_config = orjson.loads(plugin_config)
        except orjson.JSONDecodeError:
            raise ConfigFileInvalid(f"{where}: plugin_config is not valid JSON") from None
    if not isinstance(plugin_config, dict):
        raise ConfigFileInvalid(f"{where}: plugin_config must be an object")
    nireq = config.get("nireq")
    if nireq in (0, None):
        nireq = None
    elif type(nireq) is not int or nireq < 0:
        raise ConfigFileInvalid(f"{where}: nireq must be a positive integer")
    batch_size = config.get("batch_size")
    if isinstance(batch_size, str) and batch_size.isdigit():
        batch_size = int(batch_size)
    if batch_size in ("auto", "", 0):
        batch_size = None
    if batch_size is not None and (type(batch_size) is not int or batch_size < 0):
        raise ConfigFileInvalid(f"{where}: batch_size must be a positive integer")
    device = config.get("target_device")
    if device is not None and not isinstance(device, str):
        raise ConfigFileInvalid(f"{where}: target_device must be a string")
    folder = Path(base_path).expanduser()
    if not folder.is_absolute():
        folder = root / folder
    return ConfigModel(
        name=name,
        base_path=folder,
        version_policy=policy,
        target_device=device or None,
        plugin_config=plugin_config,
        nireq=nireq,
        shape=config.get("shape"),
        batch_size=batch_size,
    )


def validate_version_policy(policy: Any, where: str = "model_version_policy") -> None:
    """OVMS: exactly one of {"all": {}}, {"latest": {"num_versions": N}}, {"specific": {"versions": [...]}}."""
    if policy in ({}, None):
        return
    if not isinstance(policy, dict) or len(policy) != 1:
        raise ConfigFileInvalid(f"{where}: model_version_policy must have exactly one of all/latest/specific")
    ((kind, options),) = policy.items()
    if kind == "all" and options == {}:
        return
    if kind == "latest" and isinstance(options, dict) and set(options) <= {"num_versions"}:
        count = options.get("num_versions", 1)
        if type(count) is int and count > 0:
            return
    if kind == "specific" and isinstance(options, dict) and set(options) == {"versions"}:
        versions = options["versions"]
        if isinstance(versions, list) and versions and all(type(v) is int and v > 0 for v in versions):
            return
    raise ConfigFileInvalid(f"{where}: invalid model_version_policy {policy!r}")


def select_versions(policy: dict[str, Any] | None, versions: list[int]) -> list[int]:
    """Apply an OVMS version policy to the available version numbers; empty policy = all."""
    ordered = sorted(set(versions))
    if not policy or "all" in policy:
        return ordered
    if "latest" in policy:
        count = (policy["latest"] or {}).get("num_versions", 1)
        return ordered[-count:]
    if "specific" in policy:
        wanted = set(policy["specific"]["versions"])
        return [v for v in ordered if v in wanted]
    return ordered


def scan_versions(base_path: Path) -> dict[int, Path]:
    """The integer-named version folders of a model (OVMS layout); other entries are ignored."""
    versions: dict[int, Path] = {}
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return versions
    for entry in entries:
        if entry.is_dir() and entry.name.isdigit() and int(entry.name) > 0:
            versions[int(entry.name)] = Path(entry.path)
    return versions


def folder_fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of a version folder's files: a change means reload."""
    items = []
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file():
                stat = path.stat()
                items.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
        except OSError:
            continue
    return tuple(items)

"""What the code reads from the environment, found in its source: the deployment files are checked against this,
so a variable renamed in the code (or a default port changed) fails their tests instead of a production start."""

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "access", "registry", "geti", "deployments", "inference", "console")
# config/env.py's readers: each also reads NAME_FILE (Docker and Kubernetes secrets).
ENV_READERS = {"env_str", "env_int", "env_float", "env_bool", "env_list", "env_path"}


@dataclass(frozen=True)
class Read:
    name: str
    default: object  # the literal default, or None when there is none or it is computed
    file_supported: bool  # read through config/env.py, so NAME_FILE works too
    where: str


def _sources() -> list[Path]:
    files = [ROOT / "manage.py", ROOT / "deploy" / "container" / "healthcheck.py"]
    for package in PACKAGES:
        files += [path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts]
    return files


def _literal(node: ast.AST | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def _is_environ(node: ast.AST) -> bool:
    """os.environ, or a local copy of it named env/environ (config/run.py)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in {"env", "environ"}


def environment_reads() -> dict[str, list[Read]]:
    reads: dict[str, list[Read]] = {}

    def add(name: object, default: object, file_supported: bool, where: str) -> None:
        if isinstance(name, str):
            reads.setdefault(name, []).append(Read(name, default, file_supported, where))

    for path in _sources():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), filename=where)):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                first = _literal(node.args[0])
                default = _literal(node.args[1]) if len(node.args) > 1 else None
                if isinstance(func, ast.Name) and func.id in ENV_READERS:
                    add(first, default, True, where)
                elif isinstance(func, ast.Attribute) and func.attr in {"get", "setdefault", "pop"}:
                    if _is_environ(func.value):
                        add(first, default, False, where)
                elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                    add(first, default, False, where)
            elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                add(_literal(node.slice), None, False, where)
    return reads


def default_of(name: str, reads: dict[str, list[Read]] | None = None) -> str:
    """The one literal default the code gives `name` (as a string); fails if readers disagree."""
    defaults = {
        str(read.default) for read in (reads or environment_reads())[name] if read.default is not None
    }
    assert len(defaults) == 1, f"{name}: the code reads it with defaults {defaults or 'none'}"
    return defaults.pop()

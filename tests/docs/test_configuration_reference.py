"""docs/configuration.md is the reference of every environment variable the code reads, and only of those.

The variables read are found in the source, not listed by hand: every `env_str/env_int/...("NAME")` call of
config/env.py's readers and every `os.environ.get("NAME")`, `os.environ["NAME"]`, `os.getenv("NAME")` or
`environ.get("NAME")` (a dict copied from os.environ, as config/run.py does) in the packages pyproject.toml
installs. The variables documented are the backticked names in the first column of the reference's tables.
So a variable renamed, added or removed on one side only fails here.
"""

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
READERS = {"env_str", "env_int", "env_float", "env_bool", "env_list", "env_path"}
# The readers themselves take the name as a parameter (and NAME_FILE, documented as a rule, not per variable).
HELPERS = ROOT / "config" / "env.py"
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def installed_sources() -> list[Path]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted({pattern.rstrip("*") for pattern in patterns})
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))]


def _is_environ(node: ast.expr) -> bool:
    """`os.environ`, or a name called environ/env holding a copy of it (config/run.py: env = dict(os.environ))."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in {"environ", "env"}


def variables_read(path: Path) -> tuple[set[str], list[str]]:
    """The names read in one file, and the places that read a name the check cannot see (not a literal)."""
    names: set[str] = set()
    unseen: list[str] = []

    def take(argument: ast.expr, node: ast.AST) -> None:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
        elif path != HELPERS:
            unseen.append(f"{path}:{node.lineno}")  # type: ignore[attr-defined]

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and node.args:
            function = node.func
            called = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
            if isinstance(function, ast.Name) and called in READERS:
                take(node.args[0], node)
            elif called == "getenv" or (
                isinstance(function, ast.Attribute) and called == "get" and _is_environ(function.value)
            ):
                take(node.args[0], node)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            take(node.slice, node)
    return names, unseen


def documented_variables() -> set[str]:
    documented: set[str] = set()
    for line in REFERENCE.read_text().splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        first_cell = line.split("|")[1]
        documented |= {name for name in re.findall(r"`([^`]+)`", first_cell) if NAME.match(name)}
    return documented - {"Variable"}


def test_every_variable_read_is_documented_and_every_documented_variable_is_read() -> None:
    read: set[str] = set()
    unseen: list[str] = []
    for path in installed_sources():
        names, places = variables_read(path)
        read |= names
        unseen += places
    documented = documented_variables()
    assert not unseen, f"environment variables read by a computed name (write the name literally): {unseen}"
    missing, stale = sorted(read - documented), sorted(documented - read)
    assert missing == [], f"read by the code but missing from {REFERENCE.name}: {missing}"
    assert stale == [], f"documented in {REFERENCE.name} but read nowhere: {stale}"


def test_the_scanner_sees_each_way_of_reading_a_variable(tmp_path: Path) -> None:
    """Guards the check itself: a scanner that found nothing would pass the test above vacuously."""
    source = tmp_path / "sample.py"
    source.write_text(
        "import os\n"
        "a = env_int('A_READER', 1)\n"
        "b = os.environ.get('B_GET')\n"
        "c = os.environ['C_SUBSCRIPT']\n"
        "d = os.getenv('D_GETENV')\n"
        "env = dict(os.environ)\n"
        "e = env.get('E_COPY', '1')\n"
        "os.environ['NOT_READ'] = 'x'\n"
        "f = env_str(f'{a}_COMPUTED')\n"
    )
    names, unseen = variables_read(source)
    assert names == {"A_READER", "B_GET", "C_SUBSCRIPT", "D_GETENV", "E_COPY"}
    assert len(unseen) == 1
    assert {"MODELHUB_DATA_DIR", "MODELHUB_ROLE", "PORT"} <= documented_variables()

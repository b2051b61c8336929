"""The Containerfile read without a container engine: its build stages and instructions."""

import re

from tests.deploy.code_reads import ROOT

CONTAINERFILE = ROOT / "Containerfile"


def instructions(text: str) -> list[list[tuple[str, str]]]:
    """The build stages, each a list of (INSTRUCTION, arguments) with continuation lines joined."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        logical += " " + stripped.removesuffix("\\").strip()
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = logical.strip().partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def image_environment() -> dict[str, str]:
    """The final stage's ENV: what every container of the image starts with."""
    final = instructions(CONTAINERFILE.read_text())[-1]
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(args for keyword, args in final if keyword == "ENV")))

"""Executable documentation: the shell blocks of README.md and docs/*.md, run as a user would type them.

The format (docs/contributing-docs.md explains it to writers):

- Every ```` ```bash ```` block of a page runs, in page order, in one bash per page (`set -eo pipefail`), so
  variables and the working folder carry from block to block as in a terminal. A command that fails makes the
  block, and the page's test, fail.
- A block preceded by `<!-- not-run: reason -->` (blank lines allowed in between) is not run; the reason is
  required.
- A ```` ```text title="Output" ```` block right after a bash block (blank lines allowed in between) is what
  the terminal shows for it: stdout and stderr together, compared line by line with trailing spaces ignored
  (a carriage return, as progress bars print, counts as a line break).
  Two wildcards: a line that is exactly `...` stands for any number of lines (none included), and `...`
  inside a line for any text on that line (ids, times, sizes).
- `<!-- server-env: NAME=value NAME2=value2 -->` anywhere on a page: the environment of that page's server,
  as the page tells the user to start it (`NAME=value make run`).
- Commands see what a terminal would give them, with one difference handled: curl prints its progress meter
  when its output is not a terminal, so the runner's curl gets `no-progress-meter` (a `.curlrc` in
  `CURL_HOME`), as in a terminal. Log lines that commands print (manage.py logs to the console) are shown
  and matched like any other output: `...` lines are the way to pass over them.
- The pages address the server as a user would, `127.0.0.1:8000` (or `localhost:8000`) and gRPC on `:9000`;
  the runner starts its server on free ports and puts them in place of those in the commands and the shown
  output, and changes nothing else. Another fixed port a page uses (a local file server on 8800, say) is
  declared with `<!-- free-ports: 8800 -->`: the number is then replaced by a free port wherever it stands
  alone in the page's commands and outputs.
"""

import difflib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^( *)(`{3,})([^`\s]*)(.*)$")  # indented: a block inside a list item
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(.*?)-->\s*$")
SERVER_ENV = re.compile(r"^\s*<!--\s*server-env:(.*?)-->\s*$")
FREE_PORTS = re.compile(r"^\s*<!--\s*free-ports:(.*?)-->\s*$")
OUTPUT_INFO = 'title="Output"'
# Fence languages that look like shell but would escape the runner: walk-throughs write ```bash.
SHELL_LANGUAGES = {"sh", "shell", "console", "zsh", "shell-session"}


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    not_run: str | None = None  # the reason, when the page says not to run it
    expected: str | None = None  # the Output block's text

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)
    free_ports: list[int] = field(default_factory=list)  # other fixed ports the page uses (a file server...)
    problems: list[str] = field(default_factory=list)  # format mistakes, reported by the format test

    @property
    def runnable(self) -> list[Block]:
        return [block for block in self.blocks if block.not_run is None]


def parse_page(path: Path) -> Page:
    page = Page(path)
    lines = path.read_text().splitlines()
    pending_reason: str | None = None
    last_bash: Block | None = None  # the bash block an Output block may belong to
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := SERVER_ENV.match(line):
            for item in match.group(1).split():
                name, _, value = item.partition("=")
                page.server_env[name] = value
        if match := FREE_PORTS.match(line):
            page.free_ports += [int(port) for port in match.group(1).replace(",", " ").split()]
        if match := NOT_RUN.match(line):
            pending_reason = match.group(1).strip()
            if not pending_reason:
                page.problems.append(f"{path.name}:{index + 1}: `not-run:` without a reason")
                pending_reason = "(no reason given)"
            index += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            if line.strip():
                pending_reason, last_bash = None, None
            index += 1
            continue
        indent, ticks, language, info = len(fence.group(1)), fence.group(2), fence.group(3), fence.group(4)
        end = index + 1
        # Closed by a line of at least as many backticks: a ```` fence can show a ``` block as an example.
        while end < len(lines) and not re.fullmatch(rf" *{ticks}`*\s*", lines[end]):
            end += 1
        body = "\n".join(_dedent(line, indent) for line in lines[index + 1 : end]) + "\n"
        if language == "bash":
            last_bash = Block(path, index + 1, body, not_run=pending_reason)
            page.blocks.append(last_bash)
        elif language == "text" and OUTPUT_INFO in info:
            if last_bash is None:
                page.problems.append(f"{path.name}:{index + 1}: an Output block that follows no bash block")
            else:
                last_bash.expected = body
            last_bash = None
        else:
            if language in SHELL_LANGUAGES:
                page.problems.append(
                    f"{path.name}:{index + 1}: a ```{language} block: write ```bash so that it is run "
                    "(or mark it <!-- not-run: reason -->)"
                )
            last_bash = None
        pending_reason = None
        index = end + 1
    return page


def _dedent(line: str, indent: int) -> str:
    """A line of a fenced block indented by `indent` spaces (inside a list item), without that indentation."""
    return line[indent:] if line[:indent] == " " * indent else line.lstrip(" ")


def output_pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for line in expected.rstrip("\n").split("\n"):
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def normalized(text: str) -> str:
    """Trailing spaces off; a carriage return (a progress bar redrawing its line) counts as a line break, so the
    states of a progress bar are lines a `...` line passes over."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n" if lines != [""] else ""


def output_matches(expected: str, actual: str) -> bool:
    return output_pattern(expected).fullmatch(normalized(actual)) is not None


def with_ports(text: str, *, http_port: int, grpc_port: int, others: dict[int, int] | None = None) -> str:
    """The page's addresses (what a user types) pointed at the test's ports: the server's HTTP and gRPC ports
    where the page says `127.0.0.1:8000` / `:9000`, and each port of `<!-- free-ports: -->` wherever the
    number stands alone."""
    text = re.sub(r"\b(127\.0\.0\.1|localhost):8000\b", rf"\g<1>:{http_port}", text)
    text = re.sub(r"\b(127\.0\.0\.1|localhost):9000\b", rf"\g<1>:{grpc_port}", text)
    for written, actual in (others or {}).items():
        text = re.sub(rf"(?<![\d.]){written}(?![\d.])", str(actual), text)
    return text


class BlockFailed(AssertionError):
    pass


class Shell:
    """One bash for one page: blocks are sourced into it, so variables and `cd` persist as in a terminal."""

    def __init__(self, *, cwd: Path, env: dict[str, str], scratch: Path, timeout: float = 240) -> None:
        self.scratch = scratch
        self.timeout = timeout
        self.count = 0
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / ".curlrc").write_text("no-progress-meter\n")
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env={**env, "CURL_HOME": str(scratch)},
            text=True,
            start_new_session=True,  # background jobs of the blocks end with the page
        )
        self._send("set -eo pipefail\n")

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, block: Block, code: str) -> str:
        """Runs one block; its terminal output, or BlockFailed naming the block with what it printed."""
        self.count += 1
        script = self.scratch / f"block{self.count}.sh"
        output = self.scratch / f"block{self.count}.out"
        status = self.scratch / f"block{self.count}.status"
        script.write_text(code)
        # stdin from /dev/null: a command of the block must not read the rest of this shell's input.
        self._send(f"source {script} > {output} 2>&1 < /dev/null\necho done > {status}\n")
        deadline = time.monotonic() + self.timeout
        while not status.exists():
            if self.process.poll() is not None:
                raise BlockFailed(
                    f"{block.where}: a command failed (exit status {self.process.returncode}); "
                    f"output:\n{_read(output)}"
                )
            if time.monotonic() > deadline:
                raise BlockFailed(
                    f"{block.where}: still running after {self.timeout:.0f} s; output:\n{_read(output)}"
                )
            time.sleep(0.05)
        return _read(output)

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def run_blocks(page: Page, shell: "Shell", *, ports: dict[str, object]) -> None:
    """Runs the page's blocks in order; BlockFailed at the first that fails or prints other than it shows."""
    for block in page.runnable:
        output = shell.run(block, with_ports(block.code, **ports))  # type: ignore[arg-type]
        if block.expected is None:
            continue
        expected = with_ports(block.expected, **ports)  # type: ignore[arg-type]
        if not output_matches(expected, output):
            diff = difflib.unified_diff(
                expected.splitlines(), output.splitlines(), "shown", "printed", lineterm=""
            )
            raise BlockFailed(f"{block.where}: the output shown no longer matches:\n" + "\n".join(diff))


def other_ports(page: Page) -> dict[int, int]:
    """A free port for each port the page declares (`<!-- free-ports: -->`), for one run of it."""
    from tests.live import free_port

    return {port: free_port() for port in page.free_ports}


def server_env(page: Page, others: dict[int, int]) -> dict[str, str]:
    """The page's server environment, its declared ports replaced as in its commands (GETI_HOST=...:9090)."""
    return {
        name: with_ports(value, http_port=8000, grpc_port=9000, others=others)
        for name, value in page.server_env.items()
    }


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def checkout_view(root: Path, folder: Path) -> Path:
    """A folder that looks like the checkout (every top-level entry linked) but has its own scratch/ and
    data/, so the walk-throughs write where a user's would without touching the real checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        if entry.name not in {"scratch", "data", "site"}:
            (folder / entry.name).symlink_to(entry)
    return folder


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.docs.walkthroughs docs/PAGE.md`: runs a page as its test does and prints what each
    block printed, to write or refresh its Output blocks."""
    import argparse
    import tempfile

    from tests.live import ROOT, live_service

    parser = argparse.ArgumentParser(prog="python -m tests.docs.walkthroughs", description=main.__doc__)
    parser.add_argument("page", type=Path)
    page = parse_page(parser.parse_args(argv).page.resolve())
    with tempfile.TemporaryDirectory(prefix="walkthrough-") as folder:
        workdir = checkout_view(ROOT, Path(folder) / "checkout")
        others = other_ports(page)
        with live_service(Path(folder) / "data", env=server_env(page, others)) as server:
            shell = Shell(cwd=workdir, env=server.env, scratch=Path(folder) / "blocks")
            ports = {"http_port": server.port, "grpc_port": server.grpc_port, "others": others}
            try:
                for block in page.runnable:
                    print(f"=== {block.where}", flush=True)
                    output = shell.run(block, with_ports(block.code, **ports))
                    print(output, end="", flush=True)
                    if block.expected is not None:
                        same = output_matches(with_ports(block.expected, **ports), output)
                        print(f"=== shown output {'matches' if same else 'DIFFERS'}")
            except BlockFailed as error:
                print(error)
                return 1
            finally:
                shell.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

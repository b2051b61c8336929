"""The walk-through runner itself: what it runs, skips and compares, and that a failing block fails."""

from pathlib import Path

import pytest

from tests.docs.walkthroughs import (
    BlockFailed,
    Shell,
    output_matches,
    parse_page,
    run_blocks,
    with_ports,
)

PAGE = """# A page
<!-- server-env: MODELHUB_SOURCE_URL_ALLOW=127.0.0.1 MODELHUB_AUTH=off -->
<!-- free-ports: 8800, 8801 -->

```bash
X=1
echo "id $X"
```

```text title="Output"
id 1
```

<!-- not-run: needs a GPU -->

```bash
false
```

Prose in between: the next text block is an example file, not an output.

```text
not an output
```

```json
{"a": 1}
```
"""


def test_blocks_reasons_outputs_and_server_env_are_read(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    page = parse_page(path)
    assert [block.line for block in page.blocks] == [5, 16]
    assert page.free_ports == [8800, 8801]
    assert page.blocks[0].expected == "id 1\n" and page.blocks[0].not_run is None
    assert page.blocks[1].not_run == "needs a GPU" and page.blocks[1].expected is None
    assert [block.line for block in page.runnable] == [5]
    assert page.server_env == {"MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1", "MODELHUB_AUTH": "off"}
    assert page.problems == []


def test_a_block_inside_a_list_item_is_run_without_its_indentation(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(
        "- an item:\n\n  ```bash\n  python3 - <<'PY'\n  if True:\n      print(1)\n  PY\n  ```\n\n"
        '  ```text title="Output"\n  1\n  ```\n'
    )
    (block,) = parse_page(path).blocks
    assert block.code == "python3 - <<'PY'\nif True:\n    print(1)\nPY\n"
    assert block.expected == "1\n"


def test_a_block_shown_as_an_example_inside_a_longer_fence_is_not_run(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text("````markdown\n```bash\nrm -rf scratch\n```\n````\n\n```bash\necho run\n```\n")
    page = parse_page(path)
    assert [block.code for block in page.blocks] == ["echo run\n"]
    assert page.problems == []


def test_format_mistakes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(
        '<!-- not-run: -->\n```bash\ntrue\n```\n\ntext\n\n```text title="Output"\nx\n```\n\n```sh\nls\n```\n'
    )
    problems = parse_page(path).problems
    assert len(problems) == 3, problems
    assert "without a reason" in problems[0]
    assert "follows no bash block" in problems[1]
    assert "```sh" in problems[2]


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ("a\nb\n", "a\nb\n", True),
        ("a\nb\n", "a  \nb\n\n", True),  # trailing spaces and blank lines at the end do not count
        ("a\nb\n", "a\nc\n", False),
        ("a\n", "a\nb\n", False),  # an extra line is a change
        ("id ...\n", "id 4f2a9c\n", True),
        ("id ... done\n", "id 4f2a9c failed\n", False),
        ("first\n...\nlast\n", "first\nx\ny\nlast\n", True),
        ("first\n...\nlast\n", "first\nlast\n", True),
        ("first\n...\nlast\n", "first\nx\n", False),
        ("a.b\n", "aXb\n", False),  # everything but the wildcards is literal
        ("{}\n...\nModel done\n", "{}\r 10%\r 50%\rModel done\n", True),  # a progress bar's redraws
    ],
)
def test_output_comparison(expected: str, actual: str, matches: bool) -> None:
    assert output_matches(expected, actual) is matches


def test_addresses_follow_the_test_servers_ports() -> None:
    text = "curl http://127.0.0.1:8000/models localhost:8000 127.0.0.1:9000 127.0.0.1:80001 10.0.0.1:8000"
    assert with_ports(text, http_port=5555, grpc_port=6666) == (
        "curl http://127.0.0.1:5555/models localhost:5555 127.0.0.1:6666 127.0.0.1:80001 10.0.0.1:8000"
    )


def test_declared_ports_are_replaced_where_the_number_stands_alone() -> None:
    text = "--port 8800 http://127.0.0.1:8800/remote.zip 18800 8800.5 x8800"
    assert with_ports(text, http_port=1, grpc_port=2, others={8800: 4321}) == (
        "--port 4321 http://127.0.0.1:4321/remote.zip 18800 8800.5 x4321"
    )


def test_the_shell_keeps_state_and_a_failing_command_fails_its_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nX=41\n```\n```bash\necho $((X + 1)); cd /; pwd\n```\n```bash\nfalse\necho unreachable\n```\n"
    )
    first, second, third = parse_page(page).blocks
    shell = Shell(cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, scratch=tmp_path / "blocks")
    try:
        assert shell.run(first, first.code) == ""
        assert shell.run(second, second.code) == "42\n/\n"
        with pytest.raises(BlockFailed, match="page.md:7: a command failed"):
            shell.run(third, third.code)
    finally:
        shell.close()


def test_a_failure_inside_a_pipeline_or_substitution_fails_the_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```bash\nV=$(curl -fsS http://127.0.0.1:9/nothing)\n```\n```bash\nfalse | cat\n```\n")
    for block in parse_page(page).blocks:
        shell = Shell(cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, scratch=tmp_path / f"blocks{block.line}")
        try:
            with pytest.raises(BlockFailed):
                shell.run(block, block.code)
        finally:
            shell.close()


def test_a_block_that_hangs_fails_after_the_timeout(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```bash\nsleep 30\n```\n")
    (block,) = parse_page(page).blocks
    shell = Shell(cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, scratch=tmp_path / "blocks", timeout=1)
    try:
        with pytest.raises(BlockFailed, match="still running"):
            shell.run(block, block.code)
    finally:
        shell.close()


def test_a_page_whose_output_changed_fails_with_a_diff_and_the_addresses_are_the_test_servers(
    tmp_path: Path,
) -> None:
    page_path = tmp_path / "page.md"
    shown = (
        "```bash\nURL=http://127.0.0.1:8000/models\necho $URL\n```\n\n"
        '```text title="Output"\nhttp://127.0.0.1:8000/models\n```\n\n'
        "```bash\necho 'version 2'\n```\n\n"
        '```text title="Output"\nversion 1\n```\n'
    )
    page_path.write_text(shown)
    page = parse_page(page_path)
    shell = Shell(cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, scratch=tmp_path / "blocks")
    try:
        with pytest.raises(BlockFailed) as failure:
            run_blocks(page, shell, ports={"http_port": 5555, "grpc_port": 6666, "others": {}})
    finally:
        shell.close()
    # The first block printed the test server's address, which matches the page's 8000 once mapped.
    assert str(failure.value).startswith("page.md:10: the output shown no longer matches")
    assert "-version 1\n+version 2" in str(failure.value)

"""The README runner itself: markers are read as documented, and a broken block fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.readme_blocks import BlockFailed, Runner, sections

SAMPLE = """# Title

<!-- readme-test: skip (starts a server) -->
```bash
sleep 600
```

## Shell

<!-- readme-test: skip-line "sleep" "false" (they would hang or fail) -->
```bash
echo one > out.txt
sleep 600
false && echo no
```

<!-- readme-test: exit 3 -->
```bash
exit 3
```

Some text, so the next block has no marker.

```bash
false
```

## Python

<!-- readme-test: setup
x = 41
-->
```python
y = x + 1
```

```yaml
name: p
extract: {sql: SELECT 1}
load: {table: main.t}
```
"""


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    yield Runner(InteractiveShell.instance(), tmp_path, dict(os.environ), timeout_s=20)
    InteractiveShell.clear_instance()


def _sample(tmp_path: Path, text: str = SAMPLE) -> list:
    path = tmp_path / "README.md"
    path.write_text(text)
    return sections(path)


def test_markers_apply_to_the_next_block_only(tmp_path: Path) -> None:
    top, shell, python = _sample(tmp_path)
    assert top.blocks[0].skip == "starts a server"
    skipped, expected_exit, plain = shell.blocks
    assert skipped.skip_lines == ("sleep", "false") and skipped.line == 11
    assert expected_exit.exit_status == 3
    assert (plain.skip, plain.skip_lines, plain.exit_status) == (None, (), 0)  # text between
    assert python.blocks[0].setup == "x = 41\n"


def test_blocks_run_and_a_failing_one_fails(tmp_path: Path, runner: Runner) -> None:
    top, shell, python = _sample(tmp_path)
    runner.run(top.blocks[0])  # skipped: would sleep past the timeout
    runner.run(shell.blocks[0])
    assert (tmp_path / "out.txt").read_text() == "one\n"
    runner.run(shell.blocks[1])
    with pytest.raises(BlockFailed, match=r"README.md:\d+ \(bash block in 'Shell'\): exit 1"):
        runner.run(shell.blocks[2])
    for block in python.blocks:
        runner.run(block)
    assert runner.shell.user_ns["y"] == 42


def test_python_errors_and_bad_pipelines_fail(tmp_path: Path, runner: Runner) -> None:
    (python,) = _sample(tmp_path, "## P\n```python\n1 / 0\n```\n```yaml\nextract: {}\n```\n")
    with pytest.raises(BlockFailed, match="ZeroDivisionError"):
        runner.run(python.blocks[0])
    with pytest.raises(BlockFailed, match="name: Field required"):
        runner.run(python.blocks[1])


def test_unknown_marker_and_language_are_errors(tmp_path: Path, runner: Runner) -> None:
    with pytest.raises(ValueError, match="unknown readme-test marker"):
        _sample(tmp_path, "<!-- readme-test: skipp -->\n```bash\ntrue\n```\n")
    (section,) = _sample(tmp_path, "```ruby\nputs 1\n```\n")
    with pytest.raises(BlockFailed, match="no runner for 'ruby'"):
        runner.run(section.blocks[0])


def test_a_hanging_command_is_stopped(tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    (section,) = _sample(tmp_path, "```bash\nsleep 30 &\nsleep 30\n```\n")
    slow = Runner(InteractiveShell.instance(), tmp_path, dict(os.environ), timeout_s=1)
    with pytest.raises(BlockFailed, match="still running after 1 s"):
        slow.run(section.blocks[0])
    InteractiveShell.clear_instance()

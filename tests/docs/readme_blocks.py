"""Reading the fenced code blocks of a Markdown file, and running them, for the docs tests.

A block is tested by default. What the test needs and a reader does not is said in an HTML
comment right before the block (invisible on GitHub), so every exception states its reason:

- ``<!-- readme-test: skip (REASON) -->``: the block is not run (it starts a server, needs
  an external system…);
- ``<!-- readme-test: skip-line "PREFIX" "PREFIX" (REASON) -->``: shell lines starting with a
  prefix are not run, the rest of the block is;
- ``<!-- readme-test: exit N -->``: the shell block is expected to end with exit status N;
- ``<!-- readme-test: setup`` … ``-->``: Python run in the section's shell before the block.

An unknown marker is an error, not a silent skip.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from markdown_it import MarkdownIt

from dap_kernel.pipelines.spec import PipelineSpecError, parse_spec

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<body>.*?)\s*-->", re.S)
SKIP = re.compile(r"skip\s*\((?P<reason>[^)]+)\)", re.S)
SKIP_LINES = re.compile(r"skip-line\s+(?P<prefixes>(?:\"[^\"]+\"\s*)+)\((?P<reason>[^)]+)\)", re.S)
EXIT = re.compile(r"exit\s+(?P<status>\d+)")
SETUP = re.compile(r"setup\s*\n(?P<code>.*)", re.S)


@dataclass
class Block:
    """One fenced block, with what the markers before it said."""

    section: str
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None = None
    skip_lines: tuple[str, ...] = ()
    exit_status: int = 0
    setup: str = ""

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang} block in {self.section!r})"


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def _apply_marker(block: Block, body: str) -> None:
    if m := SKIP_LINES.fullmatch(body):
        block.skip_lines += tuple(re.findall(r"\"([^\"]+)\"", m["prefixes"]))
    elif m := SKIP.fullmatch(body):
        block.skip = m["reason"]
    elif m := EXIT.fullmatch(body):
        block.exit_status = int(m["status"])
    elif m := SETUP.fullmatch(body):
        block.setup += m["code"] + "\n"
    else:
        raise ValueError(f"unknown readme-test marker: {body!r}")


def sections(path: Path) -> list[Section]:
    """The sections (``#``/``##`` headings) of ``path`` that hold fenced blocks, in order;
    markers apply to the next fence and lapse at the next paragraph or heading."""
    tokens = MarkdownIt("commonmark").parse(path.read_text())
    found: list[Section] = [Section("(top)")]
    pending: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h1", "h2"):
            found.append(Section(tokens[i + 1].content))
            pending = []
        elif token.type == "html_block":
            markers = [m["body"] for m in MARKER.finditer(token.content)]
            if "readme-test" in token.content and not markers:
                raise ValueError(f"malformed readme-test marker: {token.content.strip()!r}")
            pending += markers
        elif token.type in ("paragraph_open", "table_open"):
            pending = []
        elif token.type == "fence":
            assert token.map is not None
            block = Block(found[-1].title, token.info.strip(), token.content, token.map[0] + 1)
            for body in pending:
                _apply_marker(block, body)
            pending = []
            found[-1].blocks.append(block)
    return [s for s in found if s.blocks]


class BlockFailed(AssertionError):
    pass


@dataclass
class Runner:
    """Runs a section's blocks in one IPython shell (Python, ``%%dap sql`` cells) and in bash
    (shell blocks, plain SQL through ``dap sql``), with ``cwd`` and ``env`` (DAP_HOME…)."""

    shell: InteractiveShell
    cwd: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    timeout_s: float = 120

    def run(self, block: Block) -> None:
        if block.skip:
            return
        if block.setup:
            self._python(block, block.setup, what="setup")
        if block.lang == "python" or (block.lang == "sql" and block.code.startswith("%%")):
            self._python(block, block.code)
        elif block.lang == "sql":
            self._bash(block, f"dap sql {shlex.quote(block.code)}")
        elif block.lang in ("bash", "sh", "shell"):
            self._bash(block, block.code)
        elif block.lang == "yaml":
            self._yaml(block)
        else:
            raise BlockFailed(f"{block.where}: no runner for {block.lang!r} (mark it skip)")

    def _yaml(self, block: Block) -> None:
        """YAML parses; a pipeline (a mapping with ``extract``) is a valid pipeline spec."""
        try:
            data = yaml.safe_load(block.code)
        except yaml.YAMLError as e:
            raise BlockFailed(f"{block.where}: not YAML: {e}") from None
        if isinstance(data, dict) and "extract" in data:
            try:
                parse_spec(data, origin=block.where)
            except PipelineSpecError as e:
                raise BlockFailed(str(e)) from None  # origin= names the block

    def _python(self, block: Block, code: str, what: str = "block") -> None:
        result = self.shell.run_cell(code, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise BlockFailed(f"{block.where}: the {what} raised {type(error).__name__}: {error}")

    def _bash(self, block: Block, code: str) -> None:
        lines = _logical_lines(code)
        kept = [
            ": skipped by readme-test" if line.lstrip().startswith(block.skip_lines) else line
            for line in lines
        ]
        script = "set -eo pipefail\n" + "\n".join(kept) + "\n"
        env = {**self.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        # Its own session, so a command that outlives the timeout goes with its children.
        with subprocess.Popen(
            ["/bin/bash", "-c", script],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise BlockFailed(
                    f"{block.where}: still running after {self.timeout_s} s "
                    "(a server? mark it skip-line with the reason)"
                ) from None
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        self.outputs.append(done.stdout + done.stderr)
        if done.returncode != block.exit_status:
            raise BlockFailed(
                f"{block.where}: exit {done.returncode} (expected {block.exit_status})\n"
                f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            )


def _logical_lines(code: str) -> list[str]:
    """Shell lines with backslash continuations joined, so a skip prefix covers a command."""
    lines: list[str] = []
    buffer = ""
    for raw in code.splitlines():
        if raw.endswith("\\"):
            buffer += raw[:-1] + " "
            continue
        lines.append(buffer + raw)
        buffer = ""
    if buffer:
        lines.append(buffer)
    return lines

"""Running a notebook of ``notebooks/`` top to bottom in a real kernel, for the notebook tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"


@dataclass(frozen=True)
class Executed:
    cells: list[Any]
    outputs: list[dict[str, Any]]

    @property
    def text(self) -> str:
        """Every stream, and every textual representation (plain, HTML) of every result."""
        return "\n".join(
            o.get("text", "")
            + "".join(str(v) for k, v in o.get("data", {}).items() if k.startswith("text/"))
            for o in self.outputs
        )

    @property
    def plots(self) -> list[dict[str, Any]]:
        return [o for o in self.outputs if PLOTLY in o.get("data", {})]


def run_notebook(
    name: str, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, timeout: int = 180
) -> Executed:
    """Execute ``notebooks/<name>`` with ``env`` in the kernel's environment; fails on any error
    output (a cell that raised)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert "error" not in {o.get("output_type") for o in outputs}
    return Executed(nb.cells, outputs)

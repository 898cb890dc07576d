"""Notebooks for the scheduled-report tests (kernel, REST and browser suites alike)."""

from __future__ import annotations

from typing import Any

import nbformat


def notebook(*cells: str, params: str = 'region = "EMEA"') -> dict[str, Any]:
    """A notebook whose first cell is tagged ``parameters`` (papermill's convention)."""
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *(nbformat.v4.new_code_cell(c) for c in cells)]
    return dict(nbformat.from_dict(nb))

"""Report parameters, checked against the notebook's ``parameters`` cell.

papermill reads the cell (``inspect_notebook``) and infers each parameter's type from its
default. A value given on the command line as text (``-p region=EU``) becomes that type, so
users never quote strings themselves; a name the cell does not have is an error, not a silently
injected variable.
"""

from __future__ import annotations

import ast
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import ScheduleError

MAX_NOTEBOOK_BYTES = 20 * 2**20
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def check_notebook(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """A valid nbformat 4 notebook of reasonable size, as a plain dict."""
    import nbformat  # imported here: its schema validator costs `dap --help` a second

    text = json.dumps(notebook)
    if len(text.encode()) > MAX_NOTEBOOK_BYTES:
        raise ScheduleError(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        node = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(node)
    except (nbformat.ValidationError, ValueError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ScheduleError(f"not a valid notebook: {first[:200]}") from None
    # Reports run in DAP's Python kernel whatever the notebook was written in.
    node.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return dict(json.loads(nbformat.writes(node)))  # type: ignore[no-untyped-call]


def declared(notebook: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The notebook's parameters: name → {inferred_type_name, default, help}."""
    from papermill.inspection import inspect_notebook

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notebook.ipynb"
        path.write_text(json.dumps(notebook))
        try:
            found: dict[str, dict[str, Any]] = inspect_notebook(str(path))
        except (ValueError, SyntaxError) as e:
            raise ScheduleError(f"the parameters cell cannot be read: {e}") from None
    return found


def coerce(notebook: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` as the types the parameters cell declares; unknown names are refused."""
    if not given:
        return {}
    params = declared(notebook)
    if not params:
        raise ScheduleError(
            "the notebook has no parameters cell (a code cell tagged 'parameters'), so it "
            f"takes no parameters: {', '.join(sorted(given))}"
        )
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ScheduleError(
            f"the notebook has no parameter {unknown[0]}; it has {', '.join(sorted(params))}"
        )
    return {name: _as_type(name, value, _kind(params[name])) for name, value in given.items()}


def _kind(param: Mapping[str, Any]) -> str:
    """The parameter's type: its annotation (``top: int = 3``), else its default's literal."""
    kind = str(param.get("inferred_type_name") or "None")
    if kind != "None":
        return kind
    try:
        default = ast.literal_eval(str(param.get("default", "")))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return "None"  # an expression: nothing to go by
    return "None" if default is None else type(default).__name__


def _as_type(name: str, value: Any, kind: str) -> Any:
    kind = kind.lower()
    text = value if isinstance(value, str) else None
    try:
        if kind == "int" and not isinstance(value, bool):
            return int(text.strip()) if text is not None else int(value)
        if kind == "float" and not isinstance(value, bool):
            return float(text.strip()) if text is not None else float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if text is not None and text.strip().lower() in _TRUE | _FALSE:
                return text.strip().lower() in _TRUE
            raise ValueError(value)
        if kind == "str":
            return value if text is not None else json.dumps(value)
        if kind in ("list", "dict") and text is not None:
            parsed = json.loads(text)
            if type(parsed).__name__ != kind:
                raise ValueError(value)
            return parsed
    except (ValueError, TypeError):
        raise ScheduleError(
            f"parameter {name} takes a value of type {kind}, not {value!r}"
        ) from None
    # No default type to go by (None, or an expression): JSON if it is JSON, else the text.
    if text is not None:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return value


def from_pairs(pairs: list[str]) -> dict[str, str]:
    """``["region=EU", "top=5"]`` → ``{"region": "EU", "top": "5"}`` (values typed later)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ScheduleError(f"parameter {pair!r} is not NAME=VALUE")
        out[key.strip()] = value
    return out

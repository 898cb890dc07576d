"""The small JSON path language of ``records`` and of a cursor's ``path``.

``data.items``, ``$.data.items[*]``, ``a[0]``, ``a['odd key']``: enough to find the record
list (or the next cursor) in a response body, and nothing that evaluates code.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import SourceError

_TOKEN = re.compile(r"\.?([A-Za-z_$][\w$-]*)|\[(\*|-?\d+)\]|\[['\"]([^'\"]+)['\"]\]")


class _Missing(Exception):
    pass


def _steps(path: str) -> list[str | int | None]:
    """``$.data.items[*]`` → ``["data", "items", None]`` (None = every element)."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int | None] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SourceError(f"invalid JSON path {path!r} (use a.b, $.a.b[*], a[0])")
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif quoted is not None:
            steps.append(quoted)
        else:
            steps.append(None if index == "*" else int(index))
        pos = match.end()
    return steps


def _walk(value: Any, path: str) -> tuple[list[Any], bool]:
    """The values at ``path``; the flag says whether a ``[*]`` made it a list of matches."""
    current, many = [value], False
    for step in _steps(path):
        following: list[Any] = []
        for item in current:
            if step is None:
                if isinstance(item, list):
                    following += item
                elif not many:
                    raise _Missing
                many = True
            elif isinstance(step, int):
                if isinstance(item, list) and -len(item) <= step < len(item):
                    following.append(item[step])
                elif not many:
                    raise _Missing
            elif isinstance(item, dict) and step in item:
                following.append(item[step])
            elif not many:
                raise _Missing
        current = following
    return current, many


def value_at(value: Any, path: str) -> Any:
    """The value at ``path`` (a list of them after ``[*]``), or None when there is none."""
    try:
        found, many = _walk(value, path)
    except _Missing:
        return None
    return found if many else found[0]


def records_at(body: Any, path: str, shown: str) -> list[Any]:
    """The records of one page: a list at ``path``, one value as one record, null as none;
    a body without ``path`` is a :class:`SourceError` (never an empty page)."""
    try:
        found, many = _walk(body, path)
    except _Missing:
        raise SourceError(f"{shown}: the response has no {path!r}") from None
    if many:
        return found
    value = found[0]
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

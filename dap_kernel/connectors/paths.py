"""Paths under a connector's base: the one rule for API paths and for files under a folder.

A grant on a connector reaches what lies under its base (a URL, a folder) and nothing else, and
the connector's credentials are sent only to its own host. A relative path is therefore refused
when it could climb out or point elsewhere once someone decodes it: ``..`` segments, any
percent-encoded dot, slash, backslash or percent (``%2e%2e``, ``%2f``, ``%252e``), backslashes,
control characters, a scheme (``http://other/``, ``C:``) and a scheme-relative ``//host``.
Files also may not be absolute, nor reach out through a symbolic link.

>>> under_url("https://api.example.com/v1", "orders?page=1")
'https://api.example.com/v1/orders?page=1'
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import DapError


class PathOutsideBase(DapError):
    """A path that would leave the connector's base URL or folder (a mistake in the spec, so
    never retried like an unreachable source)."""

    code = "path_outside_connector"
    http_status = 400


_ENCODED = re.compile(r"%(2e|2f|5c|25|00)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_GLOB = re.compile(r"[*?\[]")


def check_relative(path: str, *, where: str, absolute_ok: bool = False) -> str:
    """``path`` unchanged when it is a plain relative path; else :class:`PathOutsideBase`.

    ``absolute_ok`` lets one leading ``/`` mean "from the base" (API paths are written so).
    """

    def refuse(why: str) -> PathOutsideBase:
        return PathOutsideBase(f"path {path!r} must stay inside {where}: {why}")

    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise refuse("it holds control characters")
    if "\\" in path:
        raise refuse("backslashes are not path separators here")
    if _ENCODED.search(path):
        raise refuse("encoded dots, slashes and percents are not accepted")
    if _SCHEME.match(path):
        raise refuse("it is an address of its own, not a path under the connector")
    if path.startswith("//"):
        raise refuse("//host names another host")
    if path.startswith("/") and not absolute_ok:
        raise refuse("it is absolute")
    decoded = unquote(path)  # no encoded %, so one decoding is the last one
    route = re.split(r"[?#]", decoded, maxsplit=1)[0]
    if any(segment == ".." for segment in route.split("/")):
        raise refuse(".. climbs out")
    return path


def under_url(base: str, path: str | None) -> str:
    """An address under an HTTP connector's base URL; the host can never change."""
    if not path:
        return base
    check_relative(path, where="the connector's URL", absolute_ok=True)
    joined = base.rstrip("/") + "/" + path.lstrip("/")
    if not same_origin(joined, base):  # cannot happen after the checks: say so loudly if it does
        raise PathOutsideBase(f"path {path!r} leads away from the connector's host")
    return joined


def same_origin(url: str, base: str) -> bool:
    """Same scheme, host and port (an http → https upgrade of the same host counts as same)."""
    try:
        a, b = urlsplit(url), urlsplit(base)
        a_port, b_port = a.port, b.port
    except ValueError:
        return False
    if (a.hostname or "").lower() != (b.hostname or "").lower() or not a.hostname:
        return False
    if a.scheme == b.scheme:
        return _port(a.scheme, a_port) == _port(b.scheme, b_port)
    upgrade = b.scheme == "http" and a.scheme == "https"
    return upgrade and b_port in (None, 80) and a_port in (None, 443)


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())


def under_folder(root: Path, relative: str | None) -> Path:
    """A path (or glob) under a files connector's folder: absolute paths, ``..``, encoded forms
    and symbolic links leading out are refused, so a grant reaches that folder and no more."""
    if not relative:
        return root
    where = "the connector's folder"
    check_relative(relative, where=where)
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise PathOutsideBase(f"path {relative!r} must stay inside {where}")
    path = root / candidate
    prefix = root.joinpath(*candidate.parts[: _first_glob(candidate)])
    try:
        inside = prefix.resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if not inside:
        raise PathOutsideBase(f"path {relative!r} must stay inside {where}: a link leads out")
    return path


def _first_glob(path: Path) -> int:
    for i, part in enumerate(path.parts):
        if _GLOB.search(part):
            return i
    return len(path.parts)

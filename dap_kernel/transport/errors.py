"""Errors over HTTP: the service's JSON error back as the same :class:`DapError` subclass the
in-process path would have raised, so a notebook shows the same one line either way; and the
errors of the transport itself (the service is down, or is not DAP; a door REST does not offer).
"""

from __future__ import annotations

import re

import httpx

from ..errors import DapError, MissingParameter, Unauthenticated


class ServiceUnavailable(DapError):
    """The DAP service cannot be reached, or answered something that is not DAP."""

    code = "service_unavailable"
    http_status = 503


# The service did not accept the key or token this kernel sent.
NotAuthenticated = Unauthenticated


class NotAvailableOverHttp(DapError):
    """An operation the REST API does not offer (yet): writes to the catalog, policy details."""

    code = "not_available"
    http_status = 501


def no_writes(what: str) -> DapError:
    """Catalog writes need the lake, which only the service holds."""
    return NotAvailableOverHttp(
        f"{what} is not available through the DAP service yet: "
        "ask an admin to run `dap catalog register` on the service"
    )


def error_from(code: str, message: str, status: int = 500) -> DapError:
    """The DapError subclass whose ``code`` the service sent, carrying its message."""
    cls = _error_classes().get(code)
    if cls is None:
        error = DapError(message)
        error.code = code or DapError.code  # keep what the service said on the instance
        error.http_status = status
        return error
    error = cls.__new__(cls)  # subclasses may take other arguments: set the message directly
    DapError.__init__(error, message)
    if isinstance(error, MissingParameter):
        error.names = re.findall(r":(\w+)", message)
    return error


def _error_classes() -> dict[str, type[DapError]]:
    """Every DapError subclass the kernel knows, by code; the most general one wins a tie."""
    # Modules that define more error classes (imported by their own name, not the package's).
    import dap_kernel.governance.apikeys
    import dap_kernel.governance.secrets
    import dap_kernel.querybuild  # noqa: F401

    found: dict[str, type[DapError]] = {}
    queue: list[type[DapError]] = [DapError]
    while queue:
        cls = queue.pop(0)
        found.setdefault(cls.code, cls)
        queue.extend(cls.__subclasses__())
    return found


def _one_line(text: str) -> str:
    """A message as one line, however the service wrapped it."""
    return " ".join(text.split())


def unreachable(url: str, error: httpx.HTTPError) -> DapError:
    """The service at ``url`` (as shown) did not answer."""
    if isinstance(error, httpx.TimeoutException):
        why = "timed out"
    elif isinstance(error, httpx.ConnectError):
        why = "connection refused or host not found"
    else:
        why = type(error).__name__
    return ServiceUnavailable(f"the DAP service at {url} does not answer ({why})")


def not_dap(url: str, response: httpx.Response) -> DapError:
    """Something answered at ``url``, but not as DAP (a proxy page, a wrong address)."""
    return ServiceUnavailable(
        f"the DAP service at {url} answered HTTP {response.status_code} with something "
        "that is not DAP: check DAP_SERVICE_URL"
    )


def error_of(url: str, response: httpx.Response, *, has_credentials: bool) -> DapError:
    """The error an HTTP error response stands for; a 401 says which credential to check."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
        return not_dap(url, response)
    code = str(body.get("error", ""))
    message = _one_line(body["message"])
    if response.status_code == 401 or code == "unauthenticated":
        hint = (
            "check DAP_API_KEY"
            if has_credentials
            else "set DAP_API_KEY (create one with `dap apikey create`)"
        )
        return NotAuthenticated(f"the DAP service at {url} refused: {message}; {hint}")
    return error_from(code, message, response.status_code)

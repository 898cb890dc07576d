"""One rule for credentials in specs: where ``${secret:NAME}`` may stand, and what is shown back.

A spec (a pipeline, an API source, a connector) is plain data that people write and read back.
Two things must hold for every field of it, not for a few chosen keys:

* A ``${secret:NAME}`` reference is expanded only into a field that is *sent to the host the
  source names* (an auth header, the password of a database URL, an OAuth client secret). Put
  anywhere else (a SQL text, a path, a table name, a query parameter, a description) the value
  could come back to the caller — in a table, a run record, an error — so such a reference is
  refused with :class:`SecretPlacementError`, naming the field and never the value. Secrets
  owned by a connector or a catalog source (``connector:…``, ``source:…``) are bound to that
  connector's host and cannot be referenced at all.
* Read back, a spec shows no credential: :func:`redact_spec` hides inline passwords, bearer and
  basic credentials, API-key headers, OAuth secrets and passwords inside URLs, the same way
  :func:`redact_url` hides a connector's password. :func:`scrub` does the same to a message.

Who may use references at all (MANAGE_GRANTS) is decided by the callers that know the session;
this module only knows the shapes.

>>> redact_spec({"auth": {"type": "bearer", "token": "t0ken"}, "url": "https://h/x"})
{'auth': {'type': 'bearer', 'token': '***'}, 'url': 'https://h/x'}
"""

from __future__ import annotations

import itertools
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..errors import DapError
from ..meta.store import redact_url as _redact_password

if TYPE_CHECKING:
    from .secrets import SecretStore

SECRET_REF = re.compile(r"\$\{secret:([^}]+)\}")
# What counts as a reference when deciding whether one is there: any spelling a lenient reader
# might expand (spaces, another case, no closing brace). Only SECRET_REF is ever expanded.
_ANY_REF = re.compile(r"\$\{\s*secret\s*:", re.IGNORECASE)
SHOWN = "***"
# Secrets that belong to one connector or catalog source (they go only to its host), and DAP's
# own (the hash-mask key): no spec may name them.
OWNED_PREFIXES = ("connector:", "source:", "dap-internal:")

Field = tuple[str, ...]


class SecretPlacementError(DapError):
    """A ``${secret:…}`` reference where its value could reach someone other than its host."""

    code = "secret_placement"
    http_status = 400


@dataclass(frozen=True)
class SecretReference:
    """One reference found in a spec: the field it is in (``extract.api.headers.X``), the name
    it refers to, and whether it sits in a mapping key rather than a value."""

    field: Field
    name: str
    in_key: bool = False

    @property
    def where(self) -> str:
        return ".".join(self.field) or "(the spec)"


# -- finding references ----------------------------------------------------------------------


def has_reference(text: str) -> bool:
    return bool(_ANY_REF.search(text))


def find_references(data: Any, field: Field = ()) -> list[SecretReference]:
    """Every reference anywhere in ``data`` (mappings, lists, keys and values), in order."""
    found: list[SecretReference] = []
    for path, value, in_key in _strings(data, field):
        if not has_reference(value):
            continue
        names = [m.group(1).strip() for m in SECRET_REF.finditer(value)]
        for name in names or ["?"]:  # a malformed reference still counts as one
            found.append(SecretReference(path, name, in_key))
    return found


def _strings(data: Any, field: Field) -> Iterator[tuple[Field, str, bool]]:
    if isinstance(data, str):
        yield field, data, False
    elif isinstance(data, Mapping):
        for key, value in data.items():
            child = (*field, str(key))
            yield child, str(key), True
            yield from _strings(value, child)
    elif isinstance(data, (list, tuple, set, frozenset)):
        for i, value in enumerate(data):
            yield from _strings(value, (*field, str(i)))
    elif data is not None and not isinstance(data, (int, float, bool)):
        yield field, str(data), False  # anything else is judged by how it prints


# -- where a reference may stand ---------------------------------------------------------------

# Header names that carry credentials, and auth fields: what is sent to the source's host.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-token",
        "private-token",
    }
)
AUTH_FIELDS = frozenset({"token", "password", "value", "client_secret", "client_id", "username"})


def api_credential_field(field: Field) -> bool:
    """Inside an API source: ``auth.<credential>`` or the value of a header.

    Headers travel only to the source's host (never across a redirect or a ``Link`` to another
    one) and are neither stored nor shown, unlike the URL, its query parameters and the body,
    which end up in run records, lineage and quarantine rows."""
    if len(field) == 2 and field[0] == "auth":
        return field[1] in AUTH_FIELDS
    return len(field) == 2 and field[0] == "headers"


def url_password_only(value: str) -> bool:
    """True when every reference in a URL is its whole password (``scheme://user:${…}@host``)."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)(.*)@([^@]*)$", value, re.IGNORECASE)
    if match is None or has_reference(match.group(1)) or has_reference(match.group(3)):
        return False
    return SECRET_REF.fullmatch(match.group(2)) is not None


def pipeline_credential_field(field: Field, value: str) -> bool:
    """Inside a pipeline spec: the API source's credentials (``extract.api.auth.*``, credential
    headers) and the password of ``extract.sql_url``. Every other field is readable back (a
    SQL text, a path, a table, a parameter, a description) or goes elsewhere."""
    if field[:2] == ("extract", "api"):
        return api_credential_field(field[2:])
    if field == ("extract", "sql_url"):
        return url_password_only(value)
    return False


Allowed = Callable[[Field, str], bool]


def check_references(data: Any, allowed: Allowed, *, what: str = "spec") -> list[SecretReference]:
    """Every reference in ``data`` if each stands where ``allowed(field, value)`` says it may;
    else :class:`SecretPlacementError` naming the first misplaced one (its field, not a value)."""
    refs = find_references(data)
    values = dict(((path, in_key), value) for path, value, in_key in _strings(data, ()))
    for ref in refs:
        if ref.in_key:
            raise SecretPlacementError(
                f"{what}: a secret reference cannot be a field name ({ref.where})"
            )
        if ref.name.startswith(OWNED_PREFIXES):
            raise SecretPlacementError(
                f"{what}: {ref.where} refers to the credentials of {ref.name.split(':')[0]} "
                f"{ref.name.split(':', 1)[1]!r}, which go only to its own host: use it by name"
            )
        if SECRET_REF.search(values[(ref.field, False)]) is None:
            raise SecretPlacementError(
                f"{what}: {ref.where} holds a malformed secret reference: write ${{secret:NAME}}"
            )
        if not allowed(ref.field, values[(ref.field, False)]):
            raise SecretPlacementError(
                f"{what}: a secret may not be placed in {ref.where}: only credentials sent to "
                "the source's own host (auth fields, headers, the password of a database URL) "
                "may refer to one"
            )
    return refs


def expand(text: str, secrets: SecretStore | None, hidden: set[str]) -> str:
    """``text`` with each ``${secret:NAME}`` replaced by its value (added to ``hidden``)."""

    def one(match: re.Match[str]) -> str:
        from ..errors import SourceError

        name = match.group(1).strip()
        if secrets is None:
            raise SourceError(f"secret {name!r} is referenced but no secret store is given")
        try:
            value = secrets.get(name)
        except DapError as e:  # SecretError: missing or undecryptable
            raise SourceError(f"secret {name!r} is not available: {e}") from None
        hidden.add(value)
        return value

    return SECRET_REF.sub(one, text)


def expand_url_password(url: str, secrets: SecretStore | None, hidden: set[str]) -> str:
    """A database URL whose password is ``${secret:NAME}``, with the value put in (quoted, so
    any character works); a URL without a reference is returned as it is."""
    match = re.match(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)(.*)@([^@]*)$", url, re.IGNORECASE)
    if match is None or not url_password_only(url):
        return url
    value = quote(expand(match.group(2), secrets, hidden), safe="")
    hidden.add(value)
    return f"{match.group(1)}{value}@{match.group(3)}"


# -- what is shown back ------------------------------------------------------------------------

_PARAM = re.compile(
    r"([?&;](?:password|passwd|pwd|secret|token|access_token|api_key|apikey|key|sig|signature|"
    r"client_secret)=)[^&#;\s]*",
    re.IGNORECASE,
)
# ``Bearer <credential>``: a credential has a digit or a token character, so prose ("Basic
# authentication") is left alone.
_SCHEME_CREDENTIAL = re.compile(
    r"\b(Bearer|Basic|Token|Digest|Bot)\s+((?=[^\s]*[0-9._~+/=-])[A-Za-z0-9._~+/=:-]{3,})"
)
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "apikey",
        "passphrase",
        "signature",
    }
)
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key")}
)
# Keys naming *where* or *what kind of* credential, not the credential: shown as they are.
_DESCRIPTIVE_LAST = frozenset(
    {"url", "uri", "endpoint", "type", "name", "param", "field", "path", "in", "method", "location"}
)


def secret_key(key: str) -> bool:
    """Does a field of this name hold a credential (``password``, ``X-API-Key``, ``token``)?"""
    if key.lower() in CREDENTIAL_HEADERS:
        return True
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", key).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    if not words or words[-1] in _DESCRIPTIVE_LAST:
        return False
    if words == ["key"] or _SECRET_WORDS & set(words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def redact_url(url: str) -> str:
    """The URL with its password and credential-like query parameters replaced by ``***``."""
    shown = _redact_password(url)
    try:
        parts = urlsplit(shown)
        password = parts.password
    except ValueError:
        parts, password = None, None
    if parts is not None and password and password != SHOWN:
        # What the simple pattern misses (an empty user name, an unescaped @ in the password).
        user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
        host = parts.netloc.rpartition("@")[2]
        shown = urlunsplit(parts._replace(netloc=f"{user}:{SHOWN}@{host}"))
    return _PARAM.sub(rf"\1{SHOWN}", shown)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)@")


def redact_text(text: str) -> str:
    """A free text with URL passwords, credential parameters and ``Bearer …`` values hidden
    (a password written as ``${secret:NAME}`` is a reference, not a value, and stays)."""

    def password(match: re.Match[str]) -> str:
        if SECRET_REF.fullmatch(match.group(2)):
            return match.group(0)
        return f"{match.group(1)}{SHOWN}@"

    shown = _PARAM.sub(rf"\1{SHOWN}", _URL_PASSWORD.sub(password, text))
    return _SCHEME_CREDENTIAL.sub(rf"\1 {SHOWN}", shown)


def loggable(error: BaseException, hidden: set[str] | frozenset[str] = frozenset()) -> str:
    """An unexpected error as the server log may keep it: its kind, its message scrubbed, and
    where it happened (file, line and function of each frame; no source lines, no values).

    A driver's message can quote the URL it failed on, password and all; a plain
    ``log.exception`` would write that to a log others read.
    """
    frames = "".join(
        f"  {frame.filename}:{frame.lineno} in {frame.name}\n"
        for frame in traceback.extract_tb(error.__traceback__)
    )
    message = scrub(str(error), hidden)
    return f"{type(error).__name__}: {message}\nTraceback (most recent call last):\n{frames}"


def redact_spec(data: Any) -> Any:
    """A copy of a spec fit to show anyone: every credential replaced by ``***``.

    A ``${secret:NAME}`` reference is not a credential and stays as written, so a reader can
    tell which stored secret a source uses.
    """
    if isinstance(data, Mapping):
        kind = str(data.get("type", "")).lower()
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = str(key)
            if _credential_slot(name, kind) and value not in (None, ""):
                out[name] = _hidden(value)
            else:
                out[name] = redact_spec(value)
        return out
    if isinstance(data, list):
        return [redact_spec(v) for v in data]
    if isinstance(data, tuple):
        return tuple(redact_spec(v) for v in data)
    if isinstance(data, str):
        return redact_text(data)
    return data


def _credential_slot(key: str, kind: str) -> bool:
    return secret_key(key) or (key == "value" and kind == "api_key")


def _hidden(value: Any) -> Any:
    if isinstance(value, str) and SECRET_REF.fullmatch(value.strip()):
        return value
    if isinstance(value, Mapping):
        return {str(k): _hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return SHOWN


def sensitive_values(data: Any) -> set[str]:
    """The credential values written in a spec (inline passwords, tokens, URL passwords): what
    :func:`scrub` must hide from any message about it."""
    found: set[str] = set()

    def walk(value: Any, slot: bool) -> None:
        if isinstance(value, Mapping):
            kind = str(value.get("type", "")).lower()
            for key, item in value.items():
                walk(item, slot or _credential_slot(str(key), kind))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, slot)
        elif isinstance(value, str):
            if slot and not SECRET_REF.fullmatch(value.strip()):
                found.add(value)
                found.update(m.group(2) for m in _SCHEME_CREDENTIAL.finditer(value))
            found.update(_url_secrets(value))

    walk(data, False)
    return {v for v in found if len(v) >= 3}


def _url_secrets(text: str) -> set[str]:
    found: set[str] = set()
    for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:([^@\s]+)@", text, re.IGNORECASE):
        found.update({match.group(1), unquote(match.group(1))})
    for match in _PARAM.finditer(text):
        value = text[match.end(1) : match.end()]
        found.update({value, unquote(value)})
    return {v for v in found if v and v != SHOWN}


def scrub(text: str, hidden: set[str] | frozenset[str] = frozenset()) -> str:
    """``text`` with every value in ``hidden`` and anything credential-shaped hidden."""
    for value in sorted(hidden, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, SHOWN)
    return redact_text(text)

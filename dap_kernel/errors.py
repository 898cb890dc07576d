"""Typed errors of the core. Front doors turn each into one line for the user.

Every error carries a short machine ``code`` (used as the REST ``error`` field) and a message
written for the person who made the mistake, never a stack trace.
"""

from __future__ import annotations


class DapError(Exception):
    """Base of every error DAP raises on purpose: by default a mistake in the request (400).

    Faults of DAP itself or its environment say so with a 5xx status of their own.
    """

    code = "dap_error"
    http_status = 400
    # Seconds after which trying again makes sense (REST: the Retry-After header), when known.
    retry_after_s: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(DapError):
    code = "config_error"
    http_status = 500


class EngineUnavailable(ConfigError):
    """The statement names an engine this server is not set up for (no URL, no driver): the
    caller may pick another engine, so it is the request's problem to fix (400)."""

    code = "engine_unavailable"
    http_status = 400


class InternalError(DapError):
    """A bug or an unexpected failure: the details go to the server log, not to the caller."""

    code = "internal_error"
    http_status = 500


class MetaStoreError(DapError):
    """The metadata database cannot be reached or is not usable."""

    code = "meta_store_unavailable"
    http_status = 503


class StorageFull(DapError):
    """The disk the lake is on is full: nothing was committed, the write may be retried once
    space is freed."""

    code = "storage_full"
    http_status = 507


class SqlSyntaxError(DapError):
    code = "sql_syntax_error"
    http_status = 400


class QueryRefused(DapError):
    """The statement is not allowed (wrong kind of statement, file access, forbidden function)."""

    code = "query_refused"
    http_status = 403


class UnknownTable(DapError):
    code = "unknown_table"
    http_status = 404


class QueryFailed(DapError):
    """The engine rejected or failed the statement (type error, division by zero, …).

    ``about_statement`` is True when the error is about the statement itself (a name, a type,
    the syntax) and so quotes no row; ``summary`` says what kind of failure it was in words
    that carry no value (what a governed caller is told instead of the details). ``column`` and
    ``alias`` name an unknown column and the table alias it was looked for in.
    """

    code = "query_failed"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        about_statement: bool = False,
        summary: str = "the query failed",
        column: str = "",
        alias: str = "",
    ) -> None:
        super().__init__(message)
        self.about_statement = about_statement
        self.summary = summary
        self.column = column
        self.alias = alias


class QueryCancelled(DapError):
    code = "query_cancelled"
    http_status = 409


class QueryTimeout(QueryCancelled):
    """The query ran past its time limit. A 4xx: the statement (or the limit asked for) is the
    problem, not the server — monitoring must not page anyone for it."""

    code = "query_timeout"
    http_status = 408


class TableExists(DapError):
    code = "table_exists"
    http_status = 409


class SourceError(DapError):
    """An external source (file, database) is missing, unreadable or malformed."""

    code = "source_error"
    http_status = 400


class SchemaMismatch(DapError):
    code = "schema_mismatch"
    http_status = 400


class MissingParameter(DapError):
    """The statement names a parameter that was given no value."""

    code = "missing_parameter"
    http_status = 400

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"no value for parameter {', '.join(':' + n for n in names)}")
        self.names = names


class ConnectorError(DapError):
    """A connector definition is not usable (bad name, unknown URL scheme, …)."""

    code = "connector_error"
    http_status = 400


class UnknownConnector(DapError):
    code = "unknown_connector"
    http_status = 404


class UnknownStream(DapError):
    code = "unknown_stream"
    http_status = 404


class StreamRunning(DapError):
    """A stream fills its table alone: one is already running into it."""

    code = "stream_running"
    http_status = 409


# -- errors of the REST API, here so that the HTTP client raises the same classes --------------


class Unauthenticated(DapError):
    """No identity, or a key or token that is unknown, expired or revoked."""

    code = "unauthenticated"
    http_status = 401


class InvalidRequest(DapError):
    """A request body or parameter that does not fit the API (not JSON, a wrong field…)."""

    code = "invalid_request"
    http_status = 400


class TooManyQueries(DapError):
    """The caller already runs as many queries as one user may at once."""

    code = "too_many_queries"
    http_status = 429


class RateLimited(DapError):
    """The caller sent more requests than its rate allows (:mod:`dap_kernel.ratelimit`)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ShuttingDown(DapError):
    """The service is draining before it stops: another replica (or this one, restarted)
    takes the request."""

    code = "shutting_down"
    http_status = 503

    def __init__(self, message: str = "the service is shutting down", retry_after_s: float = 5):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReady(DapError):
    """A dependency of the service (metadata store, engine) does not answer: send queries to
    another replica for now."""

    code = "not_ready"
    http_status = 503


class UnknownQuery(DapError):
    code = "unknown_query"
    http_status = 404


class QueryIdInUse(DapError):
    code = "query_id_in_use"
    http_status = 409

"""Request and response bodies of the REST API (pydantic, so the OpenAPI document is generated).

Request models forbid unknown fields: a misspelt option is a 400, not silently ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# SQLite hands back naive timestamps (stored as UTC): say so, as RFC 3339 requires.
Timestamp = Annotated[datetime, AfterValidator(_utc)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryParams(BaseModel):
    """Query-string parameters: unknown ones are ignored, as browsers and proxies add their own
    (JupyterLab appends a ``?<timestamp>`` cache-buster to every GET)."""

    model_config = ConfigDict(extra="ignore")


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code, e.g. `query_refused`.")
    message: str = Field(description="One line for the person who made the request.")


# -- operations ------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    live: bool = Field(description="The server process answers.")
    ready: bool = Field(description="The metadata store and engine answer: queries can run.")
    version: str
    checks: dict[str, str] = Field(description="One line per dependency checked.")


class Live(BaseModel):
    status: Literal["live"] = Field(description="The server process answers requests.")


class Ready(BaseModel):
    status: Literal["ready"] = Field(
        description="The metadata store and the engine answer and the service is not stopping."
    )
    checks: dict[str, str] = Field(description="`ok` per dependency checked.")


class WhoAmI(BaseModel):
    user: str
    kind: str
    source: str = Field(description="How the caller was identified: jupyter, hub or apikey.")
    groups: list[str]
    roles: list[str] = Field(
        default_factory=list, description="Roles the identity holds itself (DAP_ROLE_MAP)."
    )
    engine: str
    multi_user: bool = Field(description="True when grants, row filters and masks apply.")


# -- catalog ---------------------------------------------------------------------------------


class ColumnOut(BaseModel):
    name: str
    type: str
    nullable: bool
    description: str
    tags: list[str]
    masked: bool = Field(default=False, description="Values reach this caller masked.")
    null_count: int | None = None
    distinct_count: int | None = None
    distinct_approx: bool = Field(
        default=False,
        description="`distinct_count` is a HyperLogLog estimate (shown as ≈), not an exact count.",
    )
    min_value: str | None = None
    max_value: str | None = None


class TableSummary(BaseModel):
    name: str = Field(description="Qualified name `schema.table`.")
    schema_: str = Field(alias="schema")
    table: str
    kind: str = Field(description="delta, csv, parquet, json, postgresql, sqlite …")
    description: str
    owner: str
    tags: list[str]
    row_count: int | None = Field(description="Hidden (null) when a row filter applies to you.")
    version: int
    updated_at: Timestamp
    readable: bool = Field(default=True, description="You may query this table.")

    model_config = ConfigDict(populate_by_name=True, ser_json_bytes="base64")


class CatalogList(BaseModel):
    tables: list[TableSummary]


class CatalogQuery(QueryParams):
    q: str = Field(default="", max_length=200, description="Search term (name, description, tags).")
    include_denied: bool = Field(
        default=False, description="Also list tables you may not read (flagged `readable: false`)."
    )


class TableDetailQuery(QueryParams):
    sample: int = Field(default=10, ge=0, le=1000, description="Sample rows to return (governed).")


class TableDetail(TableSummary):
    columns: list[ColumnOut]
    row_filtered: bool = Field(description="A row filter applies to you on this table.")
    sample_columns: list[str]
    sample_rows: list[list[Any]] = Field(description="Rows as you may see them (filtered, masked).")


# -- query -----------------------------------------------------------------------------------


PARAMS_MAX_DEPTH = 32


def _shallow(value: Any) -> Any:
    """Parameter values are scalars or (a few levels of) lists and structs; a deeper value is
    refused before it reaches code that walks it recursively."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > PARAMS_MAX_DEPTH:
            raise ValueError(f"values may nest at most {PARAMS_MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


Params = Annotated[dict[str, Any] | list[Any] | None, AfterValidator(_shallow)]
# Delta versions are 64-bit; a time travel point is a short ISO 8601 text.
AsOf = Annotated[int, Field(ge=0, le=2**63 - 1)] | Annotated[str, Field(max_length=64)]


class QueryRequest(Request):
    sql: str = Field(min_length=1, max_length=1_000_000, description="One SELECT statement.")
    params: Params = Field(
        default=None, description="Values for `:name` (object) or `?`/`$1` (array) placeholders."
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many rows (capped by the server's max_rows).",
    )
    page_size: int = Field(default=1000, ge=1, le=100_000, description="Rows in the JSON response.")
    query_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Choose the id yourself to cancel the query while it runs.",
    )
    cache: bool = Field(default=True, description="Answer a repeated query from the result cache.")
    timeout: float | None = Field(
        default=None, gt=0, le=86_400, description="Seconds before the query is stopped."
    )
    as_of: AsOf | None = Field(
        default=None,
        description="Read the tables as of a Delta version (number) or a time (ISO 8601).",
    )
    engine: Literal["duckdb", "chdb", "spark", "clickhouse"] | None = Field(
        default=None,
        description="The engine that runs the governed statement (default: the server's).",
    )


class ColumnType(BaseModel):
    name: str
    type: str


class QueryPage(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64")

    query_id: str
    status: Literal["running", "finished", "failed", "cancelled"]
    columns: list[ColumnType] = []
    rows: list[list[Any]] = Field(default=[], description="Rows of this page, in column order.")
    row_count: int = Field(default=0, description="Rows in the whole result.")
    offset: int = 0
    next_offset: int | None = Field(default=None, description="Offset of the next page, if any.")
    truncated: bool = Field(default=False, description="The result was cut at `limit`/max_rows.")
    cached: bool = False
    elapsed_ms: float | None = None
    progress: float | None = Field(default=None, description="Percent done of a running query.")
    tables: list[str] = []
    error: ErrorBody | None = None
    held: bool = Field(
        default=True,
        description="`query/{id}` knows this query until it expires (its status, a finished "
        "one's pages). False for a query you did not name whose answer carried every row: "
        "nothing of it is kept on the service.",
    )


class QueryBatch(Request):
    queries: list[QueryRequest] = Field(min_length=1, max_length=50)


class QueryBatchResult(BaseModel):
    results: list[QueryPage] = Field(description="One per query, in order.")


class PageQuery(QueryParams):
    offset: int = Field(default=0, ge=0)
    page_size: int = Field(default=1000, ge=1, le=100_000)


class Cancelled(BaseModel):
    query_id: str
    cancelled: bool = Field(description="True if the query was running and is being stopped.")


# -- access, audit, keys, lineage ------------------------------------------------------------


class AccessCheck(Request):
    action: Literal["SELECT", "MODIFY", "CREATE", "USE_CONNECTOR", "MANAGE_GRANTS", "UNMASK"]
    securable: str = Field(
        min_length=1, max_length=300, description="`*`, `schema`, `schema.table[.column]`."
    )


class AccessCheckRequest(Request):
    checks: list[AccessCheck] = Field(min_length=1, max_length=1000)


class AccessDecision(BaseModel):
    action: str
    securable: str
    allowed: bool
    reason: str


class AccessCheckResult(BaseModel):
    user: str
    results: list[AccessDecision]


class AuditQuery(QueryParams):
    limit: int = Field(default=50, ge=1, le=1000)
    user: str | None = Field(
        default=None, max_length=200, description="Only this user (managers only)."
    )
    verify: bool = Field(default=False, description="Also verify the hash chain (managers only).")
    action: str | None = Field(
        default=None, max_length=40, description="Only this action (query, login, admin, …)."
    )


class AuditEntry(BaseModel):
    seq: int
    ts: Timestamp
    user: str
    action: str
    decision: str
    channel: str
    statement: str
    tables: list[str]
    reason: str
    row_count: int | None
    elapsed_ms: float | None


class AuditList(BaseModel):
    records: list[AuditEntry]
    chain_ok: bool | None = Field(
        default=None, description="Hash chain verified (managers only; null for others)."
    )


class ApiKeyCreate(Request):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["query", "read-catalog", "admin"]] = Field(
        default_factory=lambda: ["query", "read-catalog"],  # type: ignore[arg-type]
        min_length=1,
    )
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
    user: str | None = Field(default=None, description="Create for another user (managers only).")
    rate_limit_per_min: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Requests a minute this key may send (0 = no limit; default: the service's "
        "DAP_RATE_LIMIT_PER_MIN). Managers only.",
    )


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    user: str
    scopes: list[str]
    state: Literal["active", "expired", "revoked"]
    created_at: Timestamp
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    rate_limit_per_min: int | None = Field(
        default=None, description="The key's own rate limit (None: the service's default)."
    )


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="The key itself. Shown once: store it now.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyOut]


class LineageNode(BaseModel):
    name: str
    kind: str = Field(description="table, file, database, …")


class Lineage(BaseModel):
    table: str
    upstream: list[LineageNode]
    downstream: list[LineageNode]


# -- connectors ------------------------------------------------------------------------------


class ConnectorCreate(Request):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Lower-case identifier.")
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="SQLAlchemy URL (postgresql://, sqlite:///…), a folder, or an http(s) URL.",
    )
    description: str = Field(default="", max_length=2000)
    replace: bool = Field(default=False, description="Replace a connector of the same name.")


class ConnectorOut(BaseModel):
    name: str
    kind: str
    url: str = Field(description="With the password redacted.")
    description: str
    owner: str
    created_at: Timestamp
    has_secret: bool


class ConnectorList(BaseModel):
    connectors: list[ConnectorOut]


class ConnectorTestResult(BaseModel):
    ok: bool
    message: str
    elapsed_ms: float
    objects: list[str] = Field(description="Tables or files found (at most 100).")

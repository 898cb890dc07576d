"""What a pipeline file says: pydantic models of the YAML (or the same mapping from Python).

A pipeline is extract → transform → validate → load::

    name: orders_daily
    depends_on: [customers_load]
    extract: {file: data/orders/*.csv, incremental: {column: updated_at}}
    transform:
      - cleanse: [{trim: [name]}, {coerce: {amount: float}}]
      - sql: SELECT o.*, c.region FROM input o JOIN main.customers c USING (customer_id)
      - python: mypackage.module:function
    validate: [{not_null: order_id}]
    load: {table: main.orders_clean, mode: merge, keys: [order_id]}
    retries: {attempts: 3, backoff_s: 1}

Unknown keys are errors (a misspelt option must not be silently ignored), and every problem is
reported as one line naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import DapError
from ..governance.secret_refs import check_references, pipeline_credential_field

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class PipelineSpecError(DapError):
    """A pipeline file that cannot be understood."""

    code = "pipeline_spec_error"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Incremental(_Model):
    """Read only what is new since the last committed load.

    ``column``: rows whose column is greater than the watermark (the largest value loaded).
    ``files``: for file sources, files not loaded before (by path, size and modification time).
    """

    column: str | None = None
    files: bool = False

    @model_validator(mode="after")
    def _one(self) -> Incremental:
        if bool(self.column) == bool(self.files):
            raise ValueError("incremental needs exactly one of column: NAME or files: true")
        return self


class Extract(_Model):
    """Where the rows come from: exactly one of ``file``, ``connector``, ``sql_url``, ``api``
    or ``sql`` (a governed query over the catalog)."""

    file: str | None = None
    format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    connector: str | None = None
    path: str | None = None  # under a files connector's folder
    sql_url: str | None = None
    table: str | None = None
    query: str | None = None  # a query run on the source database
    columns: list[str] | None = None
    api: dict[str, Any] | None = None
    sql: str | None = None  # governed SQL over the catalog
    incremental: Incremental | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Extract:
        given = [k for k in ("file", "connector", "sql_url", "api", "sql") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "extract needs exactly one of file, connector, sql_url, api or sql"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.sql_url and not (self.table or self.query):
            raise ValueError("extract from sql_url needs table: or query:")
        if self.table and self.query:
            raise ValueError("extract takes table: or query:, not both")
        if self.incremental and self.incremental.files and not (self.file or self.connector):
            raise ValueError("incremental files: true only works for file sources")
        return self

    @property
    def kind(self) -> str:
        for key in ("file", "connector", "sql_url", "api", "sql"):
            if getattr(self, key):
                return key
        raise AssertionError("validated: one source is set")


# -- cleanse steps -------------------------------------------------------------------------------


class _Columns(_Model):
    columns: list[str]


class Coerce(_Model):
    types: dict[str, str]


class Dedupe(_Model):
    keys: list[str]
    keep: Literal["first", "last"] = "last"
    order_by: list[str] = Field(default_factory=list)


class NormalizeDates(_Model):
    columns: list[str]
    formats: list[str] = Field(default_factory=list)
    to: Literal["date", "datetime"] = "date"


class Units(_Model):
    column: str
    from_: str = Field(alias="from")
    to: str
    into: str | None = None


class MapValues(_Model):
    column: str
    mapping: dict[str, Any]
    default: Any = None
    case_insensitive: bool = False


class Lookup(_Model):
    table: str
    on: str | list[str] | dict[str, str]
    columns: list[str] = Field(default_factory=list)


class Derive(_Model):
    expressions: dict[str, str]


class Rename(_Model):
    columns: dict[str, str]


CLEANSE_OPS: dict[str, type[_Model]] = {
    "trim": _Columns,
    "lower": _Columns,
    "upper": _Columns,
    "title": _Columns,
    "drop": _Columns,
    "coerce": Coerce,
    "dedupe": Dedupe,
    "normalize_dates": NormalizeDates,
    "units": Units,
    "map_values": MapValues,
    "lookup": Lookup,
    "derive": Derive,
    "rename": Rename,
}
# The short YAML forms: `trim: [a, b]`, `coerce: {a: float}`, `derive: {total: "a * b"}`.
_SHORT_FIELD = {
    "trim": "columns",
    "lower": "columns",
    "upper": "columns",
    "title": "columns",
    "drop": "columns",
    "coerce": "types",
    "derive": "expressions",
    "rename": "columns",
}


class CleanseStep(BaseModel):
    """One cleansing operation and its arguments, parsed from ``{op: args}``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    op: str
    args: Any

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, CleanseStep):
            return {"op": value.op, "args": value.args}
        if isinstance(value, Mapping) and set(value) == {"op", "args"}:
            if isinstance(value["args"], BaseModel):
                return value
            value = {value["op"]: value["args"]}
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ValueError(f"a cleanse step is one {{operation: arguments}}, got {value!r}")
        op, raw = next(iter(value.items()))
        model = CLEANSE_OPS.get(op)
        if model is None:
            raise ValueError(f"unknown cleanse step {op!r}: use {', '.join(CLEANSE_OPS)}")
        short = _SHORT_FIELD.get(op)
        long_form = (
            isinstance(raw, Mapping)
            and set(raw) == {short}
            and isinstance(raw[short], (list, dict))
        )
        if short and not long_form:
            raw = {short: [raw] if short == "columns" and isinstance(raw, str) else raw}
        if (
            op == "normalize_dates"
            and isinstance(raw, Mapping)
            and isinstance(raw.get("columns"), str)
        ):
            raw = {**raw, "columns": [raw["columns"]]}
        if op == "dedupe" and isinstance(raw, (list, str)):
            raw = {"keys": [raw] if isinstance(raw, str) else raw}
        if op == "dedupe" and isinstance(raw, Mapping) and isinstance(raw.get("keys"), str):
            raw = {**raw, "keys": [raw["keys"]]}
        return {"op": op, "args": model.model_validate(raw)}


# -- transforms ----------------------------------------------------------------------------------


class Transform(BaseModel):
    """One step: ``cleanse`` (a list of cleanse steps), ``sql`` (governed; the batch is the
    table ``input``) or ``python`` (``module:function`` or, from Python, a callable taking and
    returning a polars DataFrame)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    cleanse: list[CleanseStep] | None = None
    sql: str | None = None
    python: str | Callable[..., Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Transform:
        given = [k for k in ("cleanse", "sql", "python") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each transform step is exactly one of cleanse, sql or python")
        if isinstance(self.python, str) and not re.match(
            r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", self.python
        ):
            raise ValueError(f"python step {self.python!r}: write module.path:function")
        return self

    @property
    def kind(self) -> str:
        return "cleanse" if self.cleanse is not None else "sql" if self.sql else "python"


class Load(_Model):
    table: str
    mode: Literal["append", "overwrite", "merge"] = "append"
    keys: list[str] = Field(default_factory=list)
    schema_evolution: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _keys(self) -> Load:
        if self.mode == "merge" and not self.keys:
            raise ValueError("load mode merge needs keys: [COLUMN, …]")
        if "." not in self.table:
            self.table = f"main.{self.table}"
        return self


class Retries(_Model):
    attempts: int = Field(default=3, ge=1, le=20)
    backoff_s: float = Field(default=1.0, ge=0, le=600)


class PipelineSpec(_Model):
    name: str
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    extract: Extract
    transform: list[Transform] = Field(default_factory=list)
    validate_: list[dict[str, Any]] = Field(default_factory=list, alias="validate")
    load: Load
    retries: Retries = Field(default_factory=Retries)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "pipeline name: letters, digits, _ . -, starting with a letter (max 128)"
            )
        return value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _deps(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data for the metadata store (callables by their import path)."""
        data = self.model_dump(mode="python", by_alias=True, exclude_defaults=False)
        for step, original in zip(data["transform"], self.transform, strict=True):
            if callable(original.python):
                fn = original.python
                step["python"] = f"{fn.__module__}:{getattr(fn, '__qualname__', fn.__name__)}"
            if original.cleanse is not None:
                step["cleanse"] = [
                    {s.op: s.args.model_dump(by_alias=True, exclude_defaults=True)}
                    for s in original.cleanse
                ]
        result: dict[str, Any] = _jsonable(data)
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _error_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    message = str(first["msg"]).removeprefix("Value error, ")
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{tail}" if where else f"{message}{tail}"


def parse_spec(data: Mapping[str, Any], *, origin: str = "pipeline") -> PipelineSpec:
    """Validate a mapping as a pipeline spec; :class:`PipelineSpecError` says what is wrong."""
    if not isinstance(data, Mapping):
        raise PipelineSpecError(f"{origin}: a pipeline is a mapping of name, extract, load, …")
    try:
        spec = PipelineSpec.model_validate(dict(data))
    except ValidationError as e:
        raise PipelineSpecError(f"{origin}: {_error_line(e)}") from e
    # Every field, not chosen keys: a secret may stand only where it is sent to its host.
    check_references(spec.to_dict(), pipeline_credential_field, what=f"pipeline {spec.name}")
    return spec


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a YAML pipeline file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise PipelineSpecError(f"cannot read pipeline file {file}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PipelineSpecError(f"{file.name}{where}: not valid YAML ({problem})") from e
    return parse_spec(data, origin=file.name)

"""Apache Spark (pyspark 4): the same governed statements, transpiled to Spark SQL.

Fail closed here as on DuckDB and chDB, by the construction chDB uses, since Spark SQL reaches
outside in many ways of its own (``SELECT * FROM parquet.`/path` ``, ``reflect()``/
``java_method()``, ``TRANSFORM … USING 'a shell command'``, ``CREATE TEMPORARY VIEW … USING``,
``ADD JAR``, ``SET``, ``CACHE TABLE``…):

- **Governed data arrives as bound inputs, never as a path in SQL.** :meth:`SparkEngine.bind`
  reads the Parquet files of a table's current Delta snapshot (the list the core hands over)
  with ``spark.read.parquet(*files)``, or the Arrow data the core bound, and registers a
  temporary view under a private name (``"main#<token>.customers"``, one identifier: see
  :mod:`.names`). No Delta jars are needed, and no SQL the engine runs names a lake path.
- **The session is locked** as far as Spark allows: ``spark.sql.runSQLOnFiles=false`` (no
  ``parquet.`/path` ``), an in-memory catalog (no Hive, no metastore on disk), no UI. Spark has
  no lock of its configuration: that is what the check below is for.
- **The final SQL is checked** (:func:`checked_statement`) before it runs: exactly one query
  (``SELECT``/``WITH``; no command, no ``SET``, no DDL), no ``TRANSFORM`` (Hive scripts), no
  table function, no scalar function that reaches outside (``reflect``, ``java_method``,
  ``input_file_name``, ``xpath``…), and every table is a private bound view (or a CTE of the
  statement). The SQL that runs is generated from the checked tree, without comments.
- SQL's answers as DuckDB gives them: ANSI mode on (an overflow or a bad cast is an error, not
  a wrapped or NULL value, as on DuckDB), session time zone UTC; ``sha2(…, 256)`` is lower-case
  hex text on both, so hash masks agree. Known difference: ``x / 0`` is an error on Spark and
  ``inf`` on DuckDB.

One Spark session per process (its JVM starts in seconds, not milliseconds): every
:class:`SparkEngine` of the process shares it, each with its views under its own random token
(``newSession()``: its own temporary views and SQL settings over the shared context). Production
points it at a cluster by ``DAP_SPARK_MASTER`` (a master URL) or at a Spark Connect server by
``DAP_SPARK_REMOTE`` (``sc://host:port``). Cancel interrupts a query's operations by tag;
progress comes from the status tracker (classic sessions only; Spark Connect reports none).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..engine_errors import engine_error
from ..errors import ConfigError, EngineUnavailable, QueryCancelled, QueryFailed
from .base import CANCEL, CLICKHOUSE_KIND, PROGRESS, Binding, Engine, Params, only_on_clickhouse
from .cancels import EarlyCancels
from .names import RelationNames

# Spark SQL functions that read files, run JVM code or name the engine's internals. Lower-case;
# a prefix ends in ``*``.
_OUTSIDE = (
    "reflect",
    "try_reflect",
    "java_method",
    "input_file_name",
    "input_file_block_start",
    "input_file_block_length",
    "xpath*",  # XML parsing (external entities)
    "from_xml",
    "schema_of_xml",
    "from_avro",
    "to_avro",
    "from_protobuf",  # reads a descriptor file by path
    "to_protobuf",
    "identifier",  # IDENTIFIER('any.table'): a table name from a string
    "read_files",
    "current_catalog",
    "current_database",
    "current_schema",
    "version",
    "session_user",
    "user",
    "spark_partition_id",
    "raise_error",  # its message is the caller's text: a row's value in an error
    "assert_true",
)

# The session's settings: local defaults; a cluster's own settings win where it has them.
_SESSION_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}

# Spark's own log (log4j2) while it starts (WARN: Spark's shell prints a notice at any other
# root level); FATAL once started, as its errors quote rows' values (a failed cast) and
# statements (mask literals), and DAP reports every error itself.
_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
"""

_HEX_LITERAL = re.compile(r"[0-9a-fA-F]{32,}")


def _reaches_outside(name: str) -> bool:
    low = name.lower()
    return any(low.startswith(p[:-1]) if p.endswith("*") else low == p for p in _OUTSIDE)


def view_name(names: RelationNames, schema: str, name: str) -> str:
    """The temporary view of ``schema.name``: one identifier no user can spell."""
    return f"{names.schema(schema)}.{name}"


def checked_statement(sql: str, names: RelationNames) -> str:
    """The Spark SQL to run, once checked: nothing but the bound private views read.

    Run on the secured statement after transpiling (parameters already in), so it sees what
    Spark will run; each private ``"schema#token".table`` becomes its one-part view name.
    """
    try:
        trees = [t for t in sqlglot.parse(sql, read="spark") if t is not None]
    except sqlglot.errors.SqlglotError as e:
        raise QueryFailed(f"the Spark statement could not be checked: {_parse_error(e)}") from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise QueryFailed("the Spark engine runs exactly one SELECT")
    tree = trees[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in list(tree.walk()):
        if isinstance(node, exp.QueryTransform):
            raise QueryFailed("TRANSFORM scripts are not allowed")
        if isinstance(node, exp.Hint):
            raise QueryFailed("a statement may not carry Spark hints")
        if isinstance(node, exp.Table):
            _check_table(node, names, ctes)
        elif isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _reaches_outside(name):
                raise QueryFailed(f"function {name}() is not allowed: it reaches outside")
            if isinstance(node, exp.Anonymous) and name.lower() == "sha256":
                # DuckDB's sha256(): lower-case hex text, as Spark's sha2(…, 256) gives.
                node.replace(exp.SHA2(this=node.expressions[0], length=exp.Literal.number(256)))
    return tree.sql(dialect="spark", comments=False)


def _check_table(node: exp.Table, names: RelationNames, ctes: set[str]) -> None:
    if not isinstance(node.this, exp.Identifier):
        raise QueryFailed("table functions are not allowed")
    unknown = QueryFailed(f"table {names.scrub(node.name)} is not a secured catalog table")
    if node.catalog:
        raise unknown
    if node.db:
        if not names.is_hidden(node.db):
            raise unknown
        alias = node.args.get("alias")
        view = exp.Table(this=exp.to_identifier(f"{node.db}.{node.name}", quoted=True))
        view.set("alias", alias.copy() if alias else exp.TableAlias(this=node.this.copy()))
        for key in ("version", "when", "sample", "joins", "laterals", "pivots"):
            if node.args.get(key):
                view.set(key, node.args[key])
        node.replace(view)
    elif node.name.lower() not in ctes:
        raise unknown


def _parse_error(error: sqlglot.errors.SqlglotError) -> str:
    """sqlglot's description of a parse error, without the statement it quotes."""
    errors = getattr(error, "errors", None) or [{}]
    return str(errors[0].get("description") or "a syntax error").splitlines()[0]


def inline_parameters(sql: str, params: Params) -> str:
    """Put bound values into Spark SQL in place of its ``:name`` / ``:1`` / ``?`` holes
    (sqlglot writes DuckDB's ``$name`` / ``$1`` / ``?`` as these), quoted by sqlglot."""
    if not params:
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="spark")
    except sqlglot.errors.SqlglotError as e:
        raise QueryFailed(f"the Spark statement could not be checked: {_parse_error(e)}") from None
    question = 0
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        key = node.name or "?"
        if key == "?":
            value = _param_value(key, params, question)
            question += 1
        else:
            value = _param_value(key, params, question)
        node.replace(exp.convert(value))
    return tree.sql(dialect="spark")


def _param_value(key: str, params: Mapping[str, Any] | Sequence[Any], question: int) -> Any:
    if isinstance(params, Mapping):
        if key not in params:
            raise QueryFailed(f"no value for parameter :{key}")
        return params[key]
    index = question if key == "?" else int(key) - 1
    if not 0 <= index < len(params):
        raise QueryFailed(f"no value for parameter {index + 1}")
    return params[index]


class _Shared:
    """The process's one Spark session (a JVM): engines take ``newSession()`` views of it."""

    lock = threading.RLock()
    root: Any = None
    remote = False
    where = ("", "")  # (master, remote) the session was started for

    @classmethod
    def session(cls, master: str, remote: str, threads: int, memory_limit: str) -> Any:
        with cls.lock:
            if cls.root is None:
                cls.root = _start(master, remote, threads, memory_limit)
                cls.remote = bool(remote)
                cls.where = (master, remote)
            elif (master, remote) != cls.where:
                # One Spark session per process: a second place would silently be the first.
                raise ConfigError(
                    "this process's Spark session runs elsewhere "
                    f"({cls.where[1] or cls.where[0] or 'local'}); restart to use another"
                )
            # Spark Connect sessions have no newSession(): views are kept apart by token.
            return cls.root if cls.remote else cls.root.newSession()

    @classmethod
    def stop(cls) -> None:
        with cls.lock:
            if cls.root is not None:
                with contextlib.suppress(Exception):
                    cls.root.stop()
                cls.root = None


def start_shared_session(master: str = "", remote: str = "") -> None:
    """Start the process's Spark session now (a test run's or a server's warm-up)."""
    _Shared.session(master, remote, 0, "")


def stop_shared_session() -> None:
    """Stop the process's Spark session (its JVM); engines still open fail afterwards."""
    _Shared.stop()


def _start(master: str, remote: str, threads: int, memory_limit: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise EngineUnavailable("the spark engine needs pyspark: pip install 'dap[spark]'") from e
    # pyspark logs every failed query's statement and stack (its SQL context logger): the
    # statement carries mask literals and private names, and DAP reports the error itself.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    builder = SparkSession.builder.appName("dap")
    if remote:
        builder = builder.remote(remote)
    else:
        builder = builder.master(master or f"local[{threads or '*'}]")
        if not master:  # the driver of a local session: on loopback only
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        work = Path(tempfile.mkdtemp(prefix="dap-spark-"))
        (work / "log4j2.properties").write_text(_LOG4J2)
        conf = dict(_SESSION_CONF)
        conf["spark.sql.warehouse.dir"] = str(work / "warehouse")
        conf["spark.driver.extraJavaOptions"] = (
            f"-Dlog4j.configurationFile=file:{work / 'log4j2.properties'}"
        )
        if memory_limit:
            conf["spark.driver.memory"] = _jvm_memory(memory_limit)
        for key, value in conf.items():
            builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # the JVM did not start, or the server is not there
        raise ConfigError(f"the Spark session could not start: {_first_line(e)}") from None
    if remote:
        for key, value in _SESSION_CONF.items():
            if key.startswith("spark.sql.") and key != "spark.sql.catalogImplementation":
                with contextlib.suppress(Exception):  # a static setting of the server
                    spark.conf.set(key, value)
    else:
        spark.sparkContext.setLogLevel("FATAL")
    return spark


def _jvm_memory(limit: str) -> str:
    """DAP_MEMORY_LIMIT ("4GB", "512MiB") as a JVM size ("4g", "512m")."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt])i?b?\s*", limit.lower())
    if not m:
        raise ConfigError(f"DAP_MEMORY_LIMIT={limit!r} is not a size Spark understands")
    return f"{m[1]}{m[2]}"


class SparkEngine(Engine):
    """Governed SQL on Spark, over temporary views of the lake's snapshot files."""

    name = "spark"
    dialect = "spark"

    def __init__(
        self,
        lake_dir: Any = None,
        threads: int = 0,
        memory_limit: str = "",
        master: str = "",
        remote: str = "",
    ) -> None:
        self.lake_dir = lake_dir
        self.names = RelationNames()
        self._spark = _Shared.session(master, remote, threads, memory_limit)
        self._remote = bool(remote)
        self.capabilities = frozenset({CANCEL} if self._remote else {CANCEL, PROGRESS})
        self._lock = threading.RLock()
        self._bound: dict[str, str] = {}  # qualified name -> signature
        self._views: set[str] = set()
        self._running: set[str] = set()
        self._early_cancels = EarlyCancels()
        self._closed = False

    # -- binding -----------------------------------------------------------------------------

    def relation(self, schema: str, name: str) -> str:
        """As the secured statement names it (``execute`` turns it into the view's name)."""
        return f"{_quoted(self.names.schema(schema))}.{_quoted(name)}"

    def bind(self, bindings: Sequence[Binding]) -> None:
        with self._lock:
            for binding in bindings:
                if self._bound.get(binding.qualified_name) == binding.signature:
                    continue
                view = view_name(self.names, binding.schema, binding.name)
                try:
                    self._frame(binding).createOrReplaceTempView(_quoted(view))
                except QueryFailed:
                    raise
                except Exception as e:  # pyspark raises its own errors, py4j its own
                    raise _spark_error(e, self.names) from None
                self._views.add(view)
                self._bound[binding.qualified_name] = binding.signature

    def _frame(self, b: Binding) -> Any:
        """A binding's rows as a DataFrame: the Delta snapshot's files, a registered Parquet
        source, or the Arrow data the core bound (an empty table, a caller's input)."""
        if b.arrow is not None:
            return self._spark.createDataFrame(b.arrow)
        reader = self._spark.read.option("mergeSchema", "true")
        if b.kind == "delta":
            if not b.files:
                raise QueryFailed(f"{b.schema}.{b.name} has no files to read")
            if b.options.get("partition_columns"):
                reader = reader.option("basePath", str(b.location))
            return reader.parquet(*b.files)
        if b.kind == "parquet":
            return reader.parquet(str(b.location))
        if b.kind == CLICKHOUSE_KIND:
            raise only_on_clickhouse(b.schema, b.name)
        raise QueryFailed(
            f"the spark engine reads lake tables and Parquet sources, not {b.kind!r} sources: "
            "run this query on duckdb"
        )

    def unbind(self, binding: Binding) -> None:
        with self._lock:
            view = view_name(self.names, binding.schema, binding.name)
            with contextlib.suppress(Exception):
                self._spark.catalog.dropTempView(view)
            self._views.discard(view)
            self._bound.pop(binding.qualified_name, None)

    # -- running -----------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        params: Params = None,
        *,
        query_id: str | None = None,
        limit: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> pa.Table:
        sql = checked_statement(inline_parameters(sql, params), self.names)
        tag = _tag(query_id) if query_id else None
        if query_id and tag:
            with self._lock:
                if self._early_cancels.take(query_id):
                    raise QueryCancelled("the query was cancelled")
                self._running.add(query_id)
            self._spark.addTag(tag)
            if not self._remote:
                self._spark.sparkContext.setJobGroup(tag, "dap query", interruptOnCancel=True)
        try:
            table = self._run(sql, limit)
        finally:
            if query_id and tag:
                with contextlib.suppress(Exception):
                    self._spark.removeTag(tag)
                    if not self._remote:  # the job group is the thread's: clear it
                        self._spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
                with self._lock:
                    cancelled = query_id not in self._running
                    self._running.discard(query_id)
                if cancelled:
                    raise QueryCancelled("the query was cancelled")
        if on_batch is not None:
            on_batch(table.num_rows)
        return table

    def execute_internal(self, sql: str) -> pa.Table:
        """Trusted Spark SQL of DAP itself (a health check): checked all the same, which also
        names the bound views as Spark knows them."""
        return self._run(checked_statement(sql, self.names), None)

    def _run(self, sql: str, limit: int | None) -> pa.Table:
        try:
            frame = self._spark.sql(sql)
            if limit is not None:
                frame = frame.limit(limit)
            table: pa.Table = frame.toArrow()
            return table
        except Exception as e:  # pyspark's errors carry Spark's message and condition
            raise _spark_error(e, self.names) from None

    def cancel(self, query_id: str) -> bool:
        with self._lock:
            if query_id not in self._running:
                self._early_cancels.note(query_id)
                return False
            self._running.discard(query_id)
        with contextlib.suppress(Exception):
            self._spark.interruptTag(_tag(query_id))
        if not self._remote:
            with contextlib.suppress(Exception):
                self._spark.sparkContext.cancelJobGroup(_tag(query_id))
        return True

    def progress(self, query_id: str) -> float | None:
        if self._remote or query_id not in self._running:
            return None
        try:
            tracker = self._spark.sparkContext.statusTracker()
            done = total = 0
            for job_id in tracker.getJobIdsForGroup(_tag(query_id)):
                job = tracker.getJobInfo(job_id)
                for stage_id in job.stageIds if job else ():
                    stage = tracker.getStageInfo(stage_id)
                    if stage:
                        done += stage.numCompletedTasks
                        total += stage.numTasks
        except Exception:  # the tracker is advisory: no figure rather than an error
            return None
        return 100.0 * done / total if total else None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for view in sorted(self._views):
                with contextlib.suppress(Exception):
                    self._spark.catalog.dropTempView(view)
            self._views.clear()
            self._bound.clear()


def _quoted(view: str) -> str:
    return "`" + view.replace("`", "``") + "`"


def _tag(query_id: str) -> str:
    """A Spark operation tag of a query id (tags may not hold commas or be empty)."""
    return "dap-" + re.sub(r"[^A-Za-z0-9_.-]", "_", query_id)


# Spark's error conditions, in the words engine_error reads (DuckDB's kinds).
_KINDS = {
    "PARSE_SYNTAX_ERROR": "Parser",
    "TABLE_OR_VIEW_NOT_FOUND": "Catalog",
    "UNRESOLVED_ROUTINE": "Catalog",
    "DIVIDE_BY_ZERO": "Invalid Input",
    "CAST_INVALID_INPUT": "Conversion",
    "CAST_OVERFLOW": "Conversion",
    "ARITHMETIC_OVERFLOW": "Out of Range",
    "NUMERIC_VALUE_OUT_OF_RANGE": "Out of Range",
    "INVALID_ARRAY_INDEX": "Out of Range",
    "TASK_INTERRUPTED": "Interrupt",
    "OPERATION_CANCELED": "Interrupt",
}
_COLUMN = re.compile(r"with name (`[^`]*`(?:\.`[^`]*`)*) cannot be resolved")


def _spark_error(error: Exception, names: RelationNames) -> QueryFailed:
    """Spark's error as DAP says it: one line, its condition mapped to a kind, no statement,
    no suggestions, no long hex literals (a hash mask's key), no private names."""
    condition = ""
    with contextlib.suppress(Exception):
        condition = (getattr(error, "getCondition", None) or error.getErrorClass)() or ""  # type: ignore[attr-defined]
    text = names.scrub(_first_line(error))
    text = re.sub(r"^\[[A-Z0-9_.]+\]\s*", "", text)
    text = text.split(" SQLSTATE:", 1)[0].split(" Did you mean", 1)[0]
    text = _HEX_LITERAL.sub("…", text).strip()
    top = condition.split(".", 1)[0]
    if top == "UNRESOLVED_COLUMN" and (m := _COLUMN.search(text)):
        column = m[1].split("`.`")[-1].strip("`")
        return engine_error(f'Binder Error: Referenced column "{column}" not found in FROM clause')
    if top == "PARSE_SYNTAX_ERROR" and (m := re.search(r"at or near (\S+)", text)):
        near = m[1].strip("'\".")
        return engine_error(f'Parser Error: syntax error at or near "{near}"')
    kind = _KINDS.get(top) or ("Binder" if type(error).__name__ == "AnalysisException" else "")
    return engine_error(f"{kind} Error: {text}" if kind else text)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

"""``%dap`` / ``%%dap`` IPython magics: a thin front door over the governed session.

User mistakes raise :class:`IPython.core.error.UsageError`, so a notebook shows one red line
and no traceback from inside DAP. Python variables named in the SQL (``:name`` or ``$name``) are
bound as query parameters, never pasted into the text.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import polars as pl
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from traitlets import Bool, Float, Int

from ..catalog.views import TableDescription, TableListing
from ..client import DapClient, as_client, connect
from ..errors import DapError, MissingParameter
from ..session import QueryResult
from .args import ArgumentParser

if TYPE_CHECKING:
    from ..session import Session

HELP = """\
%dap help                         this list
%dap whoami                       who DAP thinks you are, and where it keeps data
%dap catalog [TERM]               list catalog tables, or search them by name/tag/column
%dap describe TABLE               schema, statistics and documentation of a table
%dap grants TABLE                 grants, row filters and masks that apply to a table
%dap sql [--name VAR] [--limit N] [--as-of V] SELECT …   run one governed query (line form)
%%dap sql [--name VAR] [--limit N] [--as-of V]           run the cell body as one query
          --as-of reads the tables at a Delta version or time; CREATE TABLE … AS SELECT
          and INSERT INTO … SELECT write lake tables
Python variables are bound with :name or $name, e.g. WHERE region = :region"""


# %dap commands with a module of their own: each has ``HELP`` and ``run(magics, rest, cell)``.
TOPICS = (
    "ingest",
    "quality",
    "lineage",
    "chart",
    "export",
    "schedule",
    "stats",
    "stream",
    "ml",
    "experiment",
)


@functools.cache
def _sql_parser() -> ArgumentParser:
    """Built once: constructing an ArgumentParser costs more than a small query."""
    parser = ArgumentParser(prog="%dap sql", add_help=False)
    parser.add_argument("--name", "-n", default=None)
    parser.add_argument("--limit", "-l", type=int, default=None)
    parser.add_argument("--as-of", dest="as_of", default=None)
    parser.add_argument("--engine", "-e", default=None)
    parser.add_argument("query", nargs=argparse.REMAINDER)
    return parser


@magics_class
class DapMagics(Magics):
    """The ``%dap`` magics; tunable with ``%config DapMagics.…``."""

    progress_after = Float(
        1.0, config=True, help="Seconds a query runs before a progress bar appears."
    ).tag(config=True)
    show_summary = Bool(
        True, config=True, help="Print the row count and elapsed time above each result."
    ).tag(config=True)
    display_rows = Int(20, config=True, help="Rows polars shows when a result is displayed.").tag(
        config=True
    )

    def __init__(
        self, shell: Any = None, session_factory: Callable[[], Session | DapClient] | None = None
    ):
        # B604: "shell" is the IPython shell.
        super().__init__(shell=shell)  # nosec B604
        self._session_factory = session_factory
        self._executor: ThreadPoolExecutor | None = None

    @property
    def user_ns(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("the %dap magics need an IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    @property
    def session(self) -> DapClient:
        """The caller's client; a bare in-process session from the factory is wrapped once here,
        so the magics call the client protocol and never ask what they hold."""
        if self._session_factory is not None:
            return as_client(self._session_factory())
        return connect(channel="magic")

    @line_cell_magic
    def dap(self, line: str, cell: str | None = None) -> Any:
        """DAP: governed SQL and catalog. ``%dap help`` lists the commands."""
        words = strip_comment(line).split(None, 1)
        command = words[0].lower() if words else "help"
        rest = words[1] if len(words) > 1 else ""
        handlers: dict[str, Callable[[str, str | None], Any]] = {
            "help": self._help,
            "sql": self._sql,
            "catalog": self._catalog,
            "describe": self._describe,
            "whoami": self._whoami,
            "grants": self._grants,
        }
        for topic in TOPICS:
            handlers[topic] = functools.partial(self._topic, topic)
        for word in ("predict", "train"):  # %dap predict … is %dap ml predict …
            handlers[word] = functools.partial(self._topic_command, "ml", word)
        handler = handlers.get(command)
        if handler is None:
            import difflib

            close = difflib.get_close_matches(command, list(handlers), n=1)
            hint = f"; did you mean %dap {close[0]}?" if close else ""
            raise UsageError(f"unknown %dap command {command!r}{hint} (see %dap help)")
        try:
            return handler(rest, cell)
        except DapError as e:
            raise UsageError(str(e)) from None

    # -- commands ---------------------------------------------------------------------------

    def _help(self, _rest: str, _cell: str | None) -> None:
        lines = [HELP.split("\nPython variables")[0]]
        for topic in TOPICS:
            module = importlib.import_module(f"{__name__}.{topic}")
            lines.append(module.HELP)
        lines.append("Python variables" + HELP.split("\nPython variables")[1])
        print("\n".join(line for line in lines if line))

    def _topic(self, topic: str, rest: str, cell: str | None) -> Any:
        """Commands that live in a module of their own (``dap_kernel.magics.<topic>``)."""
        module = importlib.import_module(f"{__name__}.{topic}")
        return module.run(self, rest, cell)

    def _topic_command(self, topic: str, word: str, rest: str, cell: str | None) -> Any:
        """A command word a topic module answers (``%dap predict`` → ``ml``)."""
        return self._topic(topic, f"{word} {rest}", cell)

    def _whoami(self, _rest: str, _cell: str | None) -> dict[str, Any]:
        return self.session.whoami()

    def _sql(self, rest: str, cell: str | None) -> pl.DataFrame | None:
        try:
            if cell is not None and not rest.strip():  # a bare %%dap sql: nothing to parse
                args = argparse.Namespace(name=None, limit=None, as_of=None, engine=None, query=[])
            else:
                args = _sql_parser().parse_args(
                    shlex.split(rest, posix=True) if cell is not None else _split_options(rest)
                )
        except ValueError as e:
            raise UsageError(f"%dap sql: {e}") from None
        query = cell if cell is not None else " ".join(args.query)
        if not query.strip():
            raise UsageError("%dap sql: no SQL given")
        try:
            # The session takes only the names the statement uses from the namespace.
            result = self._run(
                query, self.user_ns, args.limit, as_of=args.as_of, engine=args.engine
            )
        except MissingParameter as e:
            names = ", ".join(e.names)
            raise UsageError(
                f"no Python variable named {names} for parameter "
                f"{', '.join(':' + n for n in e.names)}"
            ) from None
        frame = result.to_polars()
        if self.show_summary:
            _show_summary(result)
        if args.name:
            self.user_ns[args.name] = frame
            return None
        return frame

    def _catalog(self, rest: str, _cell: str | None) -> TableListing:
        """A designed listing in the notebook; ``.frame`` is the DataFrame."""
        return TableListing(tuple(self.session.visible_tables(rest)), term=rest.strip())

    def _grants(self, rest: str, _cell: str | None) -> pl.DataFrame:
        from ..catalog import split_name

        if not rest.strip():
            raise UsageError("%dap grants TABLE: name a table")
        rows = self.session.table_rules(".".join(split_name(rest.strip())))
        schema = {"kind": pl.String, "rule": pl.String, "applies_to": pl.String}
        return pl.DataFrame(rows, schema=schema)

    def _describe(self, rest: str, _cell: str | None) -> TableDescription:
        """The table as this caller may see it (governed in the core), designed; ``.frame`` is
        the DataFrame of its columns."""
        name = rest.strip()
        if not name:
            raise UsageError("%dap describe TABLE: name a table")
        return TableDescription(self.session.describe(name))

    # -- helpers ----------------------------------------------------------------------------

    def _run(
        self,
        query: str,
        params: Mapping[str, Any],
        limit: int | None,
        *,
        as_of: str | None = None,
        engine: str | None = None,
    ) -> QueryResult:
        """Run on a worker thread so a progress bar can show and Ctrl-C can cancel."""
        session = self.session
        query_id = uuid.uuid4().hex
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dap-query")
        future = self._executor.submit(
            session.query,
            query,
            params,
            limit=limit,
            query_id=query_id,
            as_of=as_of,
            engine=engine,
        )
        bar = None
        started = time.perf_counter()
        try:
            while True:
                try:
                    return future.result(timeout=0.05)
                except FutureTimeout:
                    pass
                if bar is None and time.perf_counter() - started > self.progress_after:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=100, desc="query", unit="%", leave=False)
                if bar is not None:
                    done = session.progress(query_id)
                    if done is not None:
                        bar.n = min(100.0, round(done, 1))
                        bar.refresh()
        except KeyboardInterrupt:
            # A query still being checked (or on its way to the DAP service) is not cancellable
            # yet: keep asking until it is, or has ended.
            deadline = time.perf_counter() + 10
            while not session.cancel(query_id) and not future.done():
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.05)
            wait([future], timeout=10)
            raise UsageError("query cancelled") from None
        finally:
            if bar is not None:
                bar.close()


def strip_comment(line: str) -> str:
    """The magic's line without a trailing ``# comment`` (as Python would read the line): a
    ``#`` inside quotes, or glued to a word (``#1``), is kept."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def _split_options(rest: str) -> list[str]:
    """Split only the leading ``--option value`` pairs; the SQL after them stays verbatim."""
    words = rest.split()
    options: list[str] = []
    i = 0
    while i < len(words) and words[i].startswith("-"):
        options.append(words[i])
        if i + 1 < len(words):
            options.append(words[i + 1])
        i += 2
    remainder = rest
    for word in options:
        remainder = remainder.split(word, 1)[1] if word in remainder else remainder
    return [*options, remainder.strip()] if remainder.strip() else options


def _show_summary(result: QueryResult) -> None:
    rows = result.row_count
    text = f"{rows:,} row{'s' if rows != 1 else ''} in {_duration(result.elapsed_ms)}"
    display(
        {"text/plain": text, "text/html": f'<div class="dap-summary"><small>{text}</small></div>'},
        raw=True,
    )


def _duration(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"

"""How the catalog shows itself to people: ``dap catalog show``, ``%dap describe`` and
``%dap catalog`` return these objects rather than frames of quoted strings.

Each one is a designed table in a notebook (``_repr_html_``: formatted counts, types, tags,
full descriptions, every value escaped), a designed table in a terminal (:meth:`text`, also
the plain-text repr: aligned columns, thousands separators, descriptions wrapped at word
boundaries), and still data: ``.frame`` / ``.to_frame()`` give the polars DataFrame, and
``obj["column"]`` / ``len(obj)`` read it. Estimated distinct counts show as ``≈9,442``;
statistics the caller may not see (a masked column, a filtered table) show as ``–``.

What they show is what they were given: the governed view of the caller
(:class:`~dap_kernel.catalog.governed.GovernedCatalog`), never the stored catalog.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from .models import ColumnInfo, TableInfo

if TYPE_CHECKING:
    from rich.table import Table

DASH = "–"  # a statistic that is unknown, or not shown to this caller
ESTIMATE_NOTE = "≈ estimated distinct count (HyperLogLog): the table was too large to count exactly"
HIDDEN_NOTE = "– not known, or not shown to you (a masked column, a row-filtered table)"
TEXT_WIDTH = 120  # the plain-text repr's width; the CLI uses the terminal's


def _count(n: int | None) -> str:
    return DASH if n is None else f"{n:,}"


def _distinct(c: ColumnInfo) -> str:
    return c.distinct_label or DASH


def _value(v: str | None) -> str:
    return DASH if v is None else v


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` when set), or :data:`TEXT_WIDTH` when not a terminal."""
    return shutil.get_terminal_size((TEXT_WIDTH, 24)).columns


def _render(table: Table, width: int) -> str:
    from rich.console import Console

    console = Console(
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


GAP = 3  # columns of spaces between two table columns
VALUE_WIDTH = 20  # a min/max value longer than this is cut with …
MIN_TEXT = 24  # narrower than this, descriptions move below the table


def _text_table(
    headers: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], width: int
) -> str:
    """A borderless table of ``rows`` fitted to ``width``. ``headers`` are (title, kind), kind
    ``num`` (right-aligned), ``fixed`` (never cut), ``value`` (cut with … past
    :data:`VALUE_WIDTH`) or ``text`` (the last column: wrapped at word boundaries). When the
    other columns leave the text fewer than :data:`MIN_TEXT` columns, it is listed below the
    table instead, next to the first column's value, wrapped to the full width."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    def natural(i: int, title: str) -> int:
        return max([cell_len(title), *(cell_len(r[i]) for r in rows)])

    empty = [
        i for i, (_t, kind) in enumerate(headers) if kind == "fixed" and not any(r[i] for r in rows)
    ]
    headers = [h for i, h in enumerate(headers) if i not in empty]  # e.g. tags, when none
    rows = [[c for i, c in enumerate(r) if i not in empty] for r in rows]
    sizes = []
    for i, (title, kind) in enumerate(headers):
        size = natural(i, title)
        sizes.append(min(size, max(VALUE_WIDTH, cell_len(title))) if kind == "value" else size)
    values = [i for i, (_t, kind) in enumerate(headers) if kind == "value"]
    fixed = [i for i, (_t, kind) in enumerate(headers) if kind != "text"]
    while values and sum(sizes[i] for i in fixed) + GAP * (len(fixed) - 1) > width:
        widest = max(values, key=lambda i: sizes[i])
        if sizes[widest] <= max(10, cell_len(headers[widest][0])):
            break  # as narrow as a value gets: the terminal wraps the rest
        sizes[widest] -= 1
    text_at = next((i for i, (_t, kind) in enumerate(headers) if kind == "text"), None)
    below: list[list[str]] = []
    if text_at is not None:
        others = sum(w for i, w in enumerate(sizes) if i != text_at) + GAP * (len(headers) - 1)
        said = [r for r in rows if r[text_at]]
        if said and width - others >= MIN_TEXT:
            sizes[text_at] = min(width - others, natural(text_at, headers[text_at][0]))
        else:  # nothing to say (no empty column), or no room: below the table
            below = [[r[0], r[text_at]] for r in said]
            headers = [h for i, h in enumerate(headers) if i != text_at]
            rows = [[c for i, c in enumerate(r) if i != text_at] for r in rows]
            sizes = [w for i, w in enumerate(sizes) if i != text_at]

    def table(cols: Sequence[tuple[str, str]], widths: Sequence[int]) -> Table:
        t = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="",
            expand=False,
        )
        for (title, kind), size in zip(cols, widths, strict=True):
            if kind == "num":
                t.add_column(title, justify="right", no_wrap=True, width=size)
            elif kind == "text":
                t.add_column(title, overflow="fold", width=size)
            else:
                t.add_column(title, no_wrap=True, overflow="ellipsis", width=size)
        return t

    main = table(headers, sizes)
    for row in rows:
        # Text(...) so a "[bold]" in a description is printed, not interpreted.
        main.add_row(*(Text(cell) for cell in row))
    out = _render(main, max(width, sum(sizes) + GAP * len(sizes)))
    if below:
        first = max(cell_len(headers[0][0]), *(cell_len(r[0]) for r in below))
        longest = max(cell_len(r[1]) for r in below)
        notes = table(
            [(headers[0][0], "fixed"), ("description", "text")],
            [first, max(MIN_TEXT, min(longest, width - first - GAP))],
        )
        for row in below:
            notes.add_row(*(Text(cell) for cell in row))
        out += "\n\n" + _render(notes, max(width, first + GAP + MIN_TEXT))
    return out


def _tags_html(tags: Sequence[str]) -> str:
    return " ".join(
        '<span class="dap-tag" style="border:1px solid #8888;border-radius:3px;'
        f'padding:0 4px;font-size:85%">{html.escape(t)}</span>'
        for t in tags
    )


_NUM = ' style="text-align:right;font-variant-numeric:tabular-nums"'
_CELL = ' style="text-align:left;vertical-align:top"'


@dataclass(frozen=True, repr=False)
class TableDescription:
    """One table as its caller may see it: what ``%dap describe`` and ``dap catalog show``
    show."""

    info: TableInfo

    # -- as data --------------------------------------------------------------------------

    @property
    def frame(self) -> pl.DataFrame:
        return self.info.columns_frame()

    def to_frame(self) -> pl.DataFrame:
        """The columns and their statistics (``distinct_approx`` flags estimates)."""
        return self.frame

    def __getitem__(self, key: Any) -> Any:
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.info.columns)

    def __iter__(self) -> Iterator[ColumnInfo]:
        return iter(self.info.columns)

    # -- as a designed table -------------------------------------------------------------

    @property
    def estimated(self) -> bool:
        return any(c.distinct_approx and c.distinct_count is not None for c in self.info.columns)

    @property
    def gaps(self) -> bool:
        """Some statistic is missing: unknown, or hidden from this caller."""
        return any(
            None in (c.null_count, c.distinct_count, c.min_value, c.max_value)
            for c in self.info.columns
        )

    def notes(self) -> list[str]:
        return [n for n, on in ((ESTIMATE_NOTE, self.estimated), (HIDDEN_NOTE, self.gaps)) if on]

    def heading(self) -> str:
        i = self.info
        return f"{i.qualified_name} · {i.kind} · {i.rows_label} · version {i.version}"

    def text(self, width: int = TEXT_WIDTH) -> str:
        i = self.info
        lines = [self.heading()]
        if i.description:
            lines.append(i.description)
        if i.owner or i.tags:
            lines.append(f"owner {i.owner or DASH} · tags {', '.join(i.tags) or DASH}")
        headers = [
            ("column", "fixed"),
            ("type", "fixed"),
            ("nulls", "num"),
            ("distinct", "num"),
            ("min", "value"),
            ("max", "value"),
            ("tags", "fixed"),
            ("description", "text"),
        ]
        rows = [
            [
                c.name,
                c.data_type,
                _count(c.null_count),
                _distinct(c),
                _value(c.min_value),
                _value(c.max_value),
                ", ".join(c.tags),
                c.description,
            ]
            for c in i.columns
        ]
        lines += ["", _text_table(headers, rows, width)]
        if self.notes():
            lines += ["", *self.notes()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        i = self.info
        meta = [html.escape(i.kind), html.escape(i.rows_label), f"version {i.version}"]
        if i.owner:
            meta.append(f"owner {html.escape(i.owner)}")
        head = (
            f"<div><b>{html.escape(i.qualified_name)}</b> "
            f"<small>{' · '.join(meta)}</small> {_tags_html(i.tags)}</div>"
        )
        if i.description:
            head += f"<div>{html.escape(i.description)}</div>"
        titles = ["column", "type", "nulls", "distinct", "min", "max", "tags", "description"]
        numeric = {"nulls", "distinct"}
        th = "".join(f"<th{_NUM if t in numeric else _CELL}>{t}</th>" for t in titles)
        body = []
        for c in i.columns:
            title = ' title="estimated (HyperLogLog)"' if c.distinct_approx else ""
            body.append(
                "<tr>"
                f"<td{_CELL}><b>{html.escape(c.name)}</b></td>"
                f"<td{_CELL}><code>{html.escape(c.data_type)}</code></td>"
                f"<td{_NUM}>{_count(c.null_count)}</td>"
                f"<td{_NUM}{title}>{html.escape(_distinct(c))}</td>"
                f"<td{_CELL}>{html.escape(_value(c.min_value))}</td>"
                f"<td{_CELL}>{html.escape(_value(c.max_value))}</td>"
                f"<td{_CELL}>{_tags_html(c.tags)}</td>"
                f"<td{_CELL}>{html.escape(c.description)}</td>"
                "</tr>"
            )
        note = "".join(f"<div><small>{html.escape(n)}</small></div>" for n in self.notes())
        return (
            f'<div class="dap-describe">{head}<table class="dap-columns">'
            f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}</div>"
        )


@dataclass(frozen=True, repr=False)
class TableListing:
    """The tables a caller may read (or those matching ``term``): what ``%dap catalog``
    shows."""

    tables: tuple[TableInfo, ...]
    term: str = ""

    @property
    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "table": [t.qualified_name for t in self.tables],
                "kind": [t.kind for t in self.tables],
                "rows": [t.row_count for t in self.tables],
                "tags": [", ".join(t.tags) for t in self.tables],
                "description": [t.description for t in self.tables],
            },
            schema={
                "table": pl.String,
                "kind": pl.String,
                "rows": pl.Int64,
                "tags": pl.String,
                "description": pl.String,
            },
        )

    def to_frame(self) -> pl.DataFrame:
        return self.frame

    def __getitem__(self, key: Any) -> Any:
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.tables)

    def __iter__(self) -> Iterator[TableInfo]:
        return iter(self.tables)

    @property
    def height(self) -> int:
        return len(self.tables)

    def _summary(self) -> str:
        n = len(self.tables)
        found = f"{n:,} table{'s' if n != 1 else ''}"
        return f"{found} matching {self.term!r}" if self.term else found

    def text(self, width: int = TEXT_WIDTH) -> str:
        headers = [
            ("table", "fixed"),
            ("kind", "fixed"),
            ("rows", "num"),
            ("tags", "fixed"),
            ("description", "text"),
        ]
        rows = [
            [t.qualified_name, t.kind, _count(t.row_count), ", ".join(t.tags), t.description]
            for t in self.tables
        ]
        if not rows:
            return f"no tables{f' matching {self.term!r}' if self.term else ''}"
        return _text_table(headers, rows, width) + f"\n\n{self._summary()}"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        titles = ["table", "kind", "rows", "tags", "description"]
        th = "".join(f"<th{_NUM if t == 'rows' else _CELL}>{t}</th>" for t in titles)
        body = "".join(
            "<tr>"
            f"<td{_CELL}><b>{html.escape(t.qualified_name)}</b></td>"
            f"<td{_CELL}>{html.escape(t.kind)}</td>"
            f"<td{_NUM}>{_count(t.row_count)}</td>"
            f"<td{_CELL}>{_tags_html(t.tags)}</td>"
            f"<td{_CELL}>{html.escape(t.description)}</td>"
            "</tr>"
            for t in self.tables
        )
        return (
            f'<div class="dap-catalog"><table class="dap-tables"><thead><tr>{th}</tr></thead>'
            f"<tbody>{body}</tbody></table><div><small>{html.escape(self._summary())}</small>"
            "</div></div>"
        )

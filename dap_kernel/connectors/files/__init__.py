"""File sources: CSV/TSV, Parquet, JSON/NDJSON and Excel files, globs and folders, ``.gz``/``.zst``.

CSV is the bulk case, so it takes DuckDB's parallel reader on an in-memory connection of its own
(not the workspace engine, which is locked down and governed: these are the user's own files,
read before anything reaches the catalog). DuckDB keeps the lines it cannot parse
(``store_rejects``); only those take the slow path in Python, to be quarantined with the file
and the physical line they came from. Nothing malformed is dropped and nothing malformed fails
the load: a file that is not readable at all is a :class:`SourceError`. For loading, CSV can
skip Arrow altogether: :meth:`FilePlan.write_parquet` has DuckDB ``COPY`` the rows into Parquet
files (with the same types and rejects) and hand back each file's statistics.

Column types are DuckDB's sniffed ones, with one tolerance: a text column whose values are
numbers (or dates) except for a few (at most ``type_tolerance``, 5 % of the sample by default)
is read as numbers, and the few go to quarantine ("amount: 'abc' is not a number"). A column
with more junk than that stays text. ``options["schema"]`` declares types outright.

One module per concept: :mod:`.listing` (which files), :mod:`.plan` (reading them),
:mod:`.parts` (what the formats share during one read), :mod:`.csv` (with :mod:`.dialect`,
:mod:`.sniff` and :mod:`.quotes`),
:mod:`.parquet`, :mod:`.json`, :mod:`.xlsx`, :mod:`.frames` (coercing frames read whole),
:mod:`.types` (column types) and :mod:`.raw` (the bytes: compression, encodings, lines).
"""

from __future__ import annotations

from .csv import SAMPLE_ROWS, sniff_delimiter
from .listing import FORMATS, SourceFile, list_files
from .parts import BATCH_ROWS, PARSE_RULE, TYPE_TOLERANCE
from .plan import FilePlan, plan_files, read_files
from .sniff import SAMPLE_BYTES
from .types import unify_types

__all__ = [
    "BATCH_ROWS",
    "FORMATS",
    "PARSE_RULE",
    "SAMPLE_BYTES",
    "SAMPLE_ROWS",
    "TYPE_TOLERANCE",
    "FilePlan",
    "SourceFile",
    "list_files",
    "plan_files",
    "read_files",
    "sniff_delimiter",
    "unify_types",
]

"""The result grid: how a query result shows itself in a notebook.

A displayed polars frame becomes a MIME bundle with the DAP result type
(:data:`~.bundle.MIME`, rendered by the lab extension as a virtualized, sortable grid) and a
formatted HTML table for front ends without it (Voilà, nbconvert, GitHub). The bundle carries
the *first page* only — it is saved in the notebook file, and every copy of data is data — plus
a handle; further pages, sorted by the kernel that holds the rows, come over a Jupyter comm
(:mod:`.pages`) and only to the front ends of that kernel.

* :mod:`.columns`: per-column display facts (kind, type, decimals, distribution sparkline);
* :mod:`.bundle`: the MIME bundle and the JSON form of a page of rows;
* :mod:`.html`: the HTML fallback;
* :mod:`.pages`: the kernel's store of displayed results and the comm that serves their pages.
"""

from __future__ import annotations

from .bundle import MIME, result_bundle
from .pages import COMM_TARGET, ResultPages, install

__all__ = ["COMM_TARGET", "MIME", "ResultPages", "install", "result_bundle"]

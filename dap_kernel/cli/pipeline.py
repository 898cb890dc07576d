"""dap pipeline run|status|history: declared pipelines and their runs."""

from __future__ import annotations

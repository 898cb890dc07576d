"""dap dashboard publish|list: dashboards as governed objects."""

from __future__ import annotations

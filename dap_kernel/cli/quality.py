"""dap quality: data-quality rules and their latest results."""

from __future__ import annotations

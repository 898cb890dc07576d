"""dap export --sql ... --to csv|xlsx|pdf PATH: governed exports."""

from __future__ import annotations

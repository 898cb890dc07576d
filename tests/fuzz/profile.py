"""One hypothesis profile for the fuzz suites: bounded, repeatable, no example database.

Applied per test (``@FUZZ``) rather than loaded globally, so the other hypothesis tests of the
suite keep their own settings. ``DAP_FUZZ_EXAMPLES`` (read at import) raises the number of
examples for a deeper local run; CI keeps the default, derandomized so a run is reproducible.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> int:
    """``default`` examples, or ``DAP_FUZZ_EXAMPLES`` when set (a deeper local run)."""
    return int(os.environ.get("DAP_FUZZ_EXAMPLES", default))


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=examples(max_examples),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )

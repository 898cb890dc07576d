"""Retries of a pipeline step: which errors are worth another attempt, and the backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from ..errors import MetaStoreError, SourceError
from ..governance.secret_refs import redact_text

log = logging.getLogger(__name__)
T = TypeVar("T")


def _transient(error: BaseException) -> bool:
    """Worth another attempt: an unreachable or failing source, I/O, a busy metadata store,
    a commit that lost a race. Mistakes in the pipeline (bad SQL, drift, refusals) are not."""
    if isinstance(error, (SourceError, MetaStoreError, OSError, TimeoutError)):
        return True
    name = type(error).__name__
    return name in ("CommitFailedError",)


def _attempt(step: str, attempts: int, backoff_s: float, fn: Callable[[], T]) -> tuple[T, int]:
    """Run ``fn`` with retries (exponential backoff with jitter); (result, attempts used)."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=max(backoff_s, 60))
        + wait_random(0, backoff_s / 4),
        retry=retry_if_exception(_transient),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "%s failed (attempt %d of %d), retrying: %s",
            step,
            state.attempt_number,
            attempts,
            redact_text(str(state.outcome.exception())) if state.outcome else "",
        ),
    )
    used = 0
    for attempt in retrying:
        with attempt:
            used = attempt.retry_state.attempt_number
            return fn(), used
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

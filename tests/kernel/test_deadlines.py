"""The one watchdog thread behind every query timeout: due deadlines fire in order, disarmed
ones never, a failing callback stops nothing, and no thread is started per query."""

from __future__ import annotations

import threading
import time

from dap_kernel.deadlines import Deadlines, shared_deadlines


def test_deadlines_fire_in_order_and_cancelled_ones_never() -> None:
    watch = Deadlines()
    fired: list[str] = []
    done = threading.Event()
    watch.after(0.15, lambda: (fired.append("late"), done.set()))
    watch.after(0.05, lambda: fired.append("early"))
    watch.after(0.10, lambda: fired.append("disarmed")).cancel()
    assert done.wait(5)
    assert fired == ["early", "late"]


def test_an_earlier_deadline_wakes_a_sleeping_watchdog() -> None:
    watch = Deadlines()
    watch.after(3600, lambda: None)  # the watchdog now sleeps for an hour
    fired = threading.Event()
    started = time.monotonic()
    watch.after(0.05, fired.set)
    assert fired.wait(5)
    assert time.monotonic() - started < 2


def test_a_failing_callback_does_not_stop_later_deadlines() -> None:
    watch = Deadlines()

    def boom() -> None:
        raise RuntimeError("boom")

    fired = threading.Event()
    watch.after(0.01, boom)
    watch.after(0.05, fired.set)
    assert fired.wait(5)


def test_disarmed_deadlines_do_not_pile_up() -> None:
    watch = Deadlines()
    for _ in range(10_000):
        watch.after(300, lambda: None).cancel()
    assert len(watch._heap) < 200
    fired = threading.Event()
    watch.after(0.01, fired.set)
    assert fired.wait(5)


def test_cancel_after_firing_is_a_no_op() -> None:
    watch = Deadlines()
    fired = threading.Event()
    deadline = watch.after(0.01, fired.set)
    assert fired.wait(5)
    deadline.cancel()
    deadline.cancel()
    assert watch._cancelled == 0


def test_arming_starts_no_thread_per_deadline() -> None:
    watch = shared_deadlines()
    watch.after(300, lambda: None).cancel()  # the watchdog exists now
    before = threading.active_count()
    for _ in range(50):
        watch.after(300, lambda: None).cancel()
    assert threading.active_count() == before

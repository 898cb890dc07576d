"""Who sees which pipelines and runs: one core view (VisiblePipelines), asked by CLI and REST."""

from __future__ import annotations

import pytest

from dap_kernel.governance.identity import Principal
from dap_kernel.pipelines import UnknownPipeline, UnknownRun, VisiblePipelines, pipeline
from dap_kernel.session import Workspace


def test_a_stranger_sees_no_pipeline_and_no_run(governed: Workspace) -> None:
    """The admin's pipeline loads a table bob may not read: to bob it does not exist, and
    neither does its run — the same answers as for names never used."""
    spec = {
        "name": "copy_orders",
        "extract": {"sql": "SELECT order_id FROM main.orders LIMIT 3"},
        "load": {"table": "main.orders_copy"},
    }
    result = pipeline(spec).run(governed.session(Principal("tester")))
    admin = VisiblePipelines(governed.session(Principal("tester")))
    assert [p.name for p in admin.list()] == ["copy_orders"]
    assert admin.run(result.run_id).rows_written == 3
    bob = VisiblePipelines(governed.session(Principal("bob")))
    assert bob.list() == [] and bob.runs() == [] and bob.runs("copy_orders") == []
    for name in ("copy_orders", "never_defined"):
        with pytest.raises(UnknownPipeline, match=f"pipeline '{name}' is not registered"):
            bob.get(name)
    for run_id in (result.run_id, "no-such-run"):
        with pytest.raises(UnknownRun, match=f"run '{run_id}' does not exist"):
            bob.run(run_id)
    ann = VisiblePipelines(governed.session(Principal("ann")))  # may read main.orders_copy
    assert [r.run_id for r in ann.runs("copy_orders")] == [result.run_id]

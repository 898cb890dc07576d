"""``dap.stats`` sits on the governed query path and below the client: it never imports the
client or the in-process client, and the core session knows nothing of it."""

from __future__ import annotations

from tests.kernel.test_layers import import_graph


def test_stats_knows_no_client_and_the_session_knows_no_stats() -> None:
    graph = import_graph()
    modules = [m for m in graph if m.startswith("dap_kernel.stats")]
    assert {"dap_kernel.stats.source", "dap_kernel.stats.describe"} <= set(modules)
    for module in modules:
        assert not graph[module] & {"dap_kernel.client", "dap_kernel.local", "dap_kernel.magics"}
        assert "dap_kernel.session" not in graph[module] or module.endswith(".source")
    assert not graph["dap_kernel.session"] & set(modules)

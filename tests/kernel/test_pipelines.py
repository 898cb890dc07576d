"""Pipelines end to end: YAML and Python, incremental loads, merge, drift, retries, DAGs, crash
safety (a real kill -9 mid-load), governance, and a real PostgreSQL source."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from dap_kernel.cli import app
from dap_kernel.errors import QueryRefused
from dap_kernel.governance.identity import Principal
from dap_kernel.pipelines import (
    PipelineFailed,
    PipelineSpecError,
    PipelineStore,
    pipeline,
)
from dap_kernel.pipelines.load import commit, committed_seq
from dap_kernel.session import Workspace
from dap_kernel.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pipelines"
DAP = str(Path(sys.executable).parent / "dap")


def rows(ws: Workspace, sql: str) -> list[dict[str, Any]]:
    return ws.session().sql(sql).to_dicts()


def write_csv(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def simple_spec(folder: Path, **load: Any) -> dict[str, Any]:
    return {
        "name": "events",
        "extract": {"file": str(folder / "*.csv"), "incremental": {"column": "id"}},
        "load": {"table": "main.events", **load},
        "retries": {"attempts": 1, "backoff_s": 0},
    }


# -- YAML and Python ----------------------------------------------------------------------------


def test_yaml_pipeline_cleanses_quarantines_and_records_the_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    shutil.copytree(FIXTURES, folder)
    result = pipeline(folder / "orders.yaml").run(workspace.session())
    assert result.status == "succeeded"
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (5, 2, 2)
    loaded = {r["order_id"]: r for r in rows(workspace, "SELECT * FROM main.orders_clean")}
    assert sorted(loaded) == [1, 3]
    ann, cy = loaded[1], loaded[3]
    assert ann["customer"] == "Ann Lee" and ann["email"] == "ann@example.com"
    assert ann["country"] == "GB" and round(ann["weight_kg"], 3) == 0.907
    assert ann["amount_cents"] == 1050 and str(ann["ordered_at"]) == "2024-01-02"
    assert cy["email"] == "cy@new.example.com" and cy["amount"] == 7.25  # the newest version
    assert "weight_lb" not in ann
    bad = rows(
        workspace, "SELECT _dap_rule, _dap_reason, _dap_run_id FROM main.orders_clean__quarantine"
    )
    assert sorted((b["_dap_rule"], b["_dap_reason"]) for b in bad) == [
        ("coerce", "amount: cannot convert 'abc' to float"),
        ("normalize_dates", "ordered_at: 'not a date' matches none of %Y-%m-%d, %d/%m/%Y"),
    ]
    assert {b["_dap_run_id"] for b in bad} == {result.run_id}
    store = PipelineStore(workspace.meta)
    [recorded] = store.runs("orders_clean")
    assert recorded.run_id == result.run_id and recorded.status == "succeeded"
    assert recorded.finished_at is not None and recorded.started_at is not None
    assert {"extract", "transform1:cleanse", "load"} <= set(recorded.steps)
    assert str(store.watermark("orders_clean")[0]) == "2024-01-04 08:00:00"
    assert store.get("orders_clean").target == "main.orders_clean"


def test_python_api_with_a_callable_step_matches_the_yaml_form(
    workspace: Workspace, tmp_path: Path
) -> None:
    def add_total(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns((pl.col("qty") * pl.col("price")).alias("total"))

    write_csv(tmp_path / "a.csv", "id,qty,price", ["1,2,1.5", "2,3,2.0"])
    spec = {
        "name": "totals",
        "extract": {"file": str(tmp_path / "a.csv")},
        "transform": [
            {"python": add_total},
            {"python": "tests.fixtures.pipelines.transforms:add_flag"},
        ],
        "load": {"table": "totals", "mode": "overwrite"},
    }
    result = pipeline(spec).run(workspace.session())
    assert result.rows_written == 2
    got = rows(workspace, "SELECT id, total, checked FROM main.totals ORDER BY id")
    assert got == [
        {"id": 1, "total": 3.0, "checked": True},
        {"id": 2, "total": 6.0, "checked": True},
    ]
    stored = PipelineStore(workspace.meta).get("totals").spec
    assert stored["transform"][0]["python"].endswith("add_total")


def test_yaml_text_and_spec_errors_are_one_line(workspace: Workspace) -> None:
    with pytest.raises(PipelineSpecError, match=r"load: Field required"):
        pipeline("name: x\nextract: {file: a.csv}\n")
    with pytest.raises(PipelineSpecError, match="unknown cleanse step 'shout'"):
        pipeline(
            {
                "name": "x",
                "extract": {"file": "a.csv"},
                "transform": [{"cleanse": [{"shout": ["a"]}]}],
                "load": {"table": "t"},
            }
        )
    with pytest.raises(PipelineSpecError, match="merge needs keys"):
        pipeline(
            {"name": "x", "extract": {"file": "a.csv"}, "load": {"table": "t", "mode": "merge"}}
        )
    with pytest.raises(PipelineSpecError, match="exactly one of file, connector"):
        pipeline({"name": "x", "extract": {}, "load": {"table": "t"}})


def test_python_step_must_return_a_frame(workspace: Workspace, tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "id", ["1"])
    p = pipeline(
        {
            "name": "wrong",
            "extract": {"file": str(tmp_path / "a.csv")},
            "transform": [{"python": "tests.fixtures.pipelines.transforms:not_a_frame"}],
            "load": {"table": "wrong"},
        }
    )
    with pytest.raises(PipelineFailed, match="returned int, not a polars DataFrame"):
        p.run(workspace.session())
    assert "main.wrong" not in workspace.catalog.known_names()


# -- incremental loads, merge, drift --------------------------------------------------------------


def test_incremental_second_run_loads_only_new_rows(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "a.csv", "id,v", ["1,a", "2,b"])
    p = pipeline(simple_spec(data))
    first = p.run(workspace.session())
    assert first.rows_written == 2 and first.watermark == 2
    again = p.run(workspace.session())
    assert (again.rows_read, again.rows_written) == (0, 0)
    assert workspace.catalog.get("main.events").version == first.table_version  # no commit
    write_csv(data / "b.csv", "id,v", ["3,c"])
    write_csv(data / "a.csv", "id,v", ["1,a", "2,b", "4,d"])
    third = p.run(workspace.session())
    assert third.rows_written == 2 and third.watermark == 4
    assert [r["id"] for r in rows(workspace, "SELECT id FROM main.events ORDER BY id")] == [
        1,
        2,
        3,
        4,
    ]
    # The watermark lives in the metadata database: a new workspace continues from it.
    fresh = Workspace(workspace.settings)
    try:
        assert PipelineStore(fresh.meta).watermark("events") == (4, 2)
        assert pipeline(simple_spec(data)).run(fresh.session()).rows_written == 0
    finally:
        fresh.close()


def test_incremental_by_files(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "drop"
    data.mkdir()
    write_csv(data / "1.csv", "id,v", ["1,a"])
    spec = {
        "name": "drops",
        "extract": {"file": str(data), "incremental": {"files": True}},
        "load": {"table": "drops"},
    }
    assert pipeline(spec).run(workspace.session()).rows_written == 1
    assert pipeline(spec).run(workspace.session()).rows_written == 0
    write_csv(data / "2.csv", "id,v", ["2,b", "3,c"])
    assert pipeline(spec).run(workspace.session()).rows_written == 2
    assert rows(workspace, "SELECT count(*) AS n FROM main.drops") == [{"n": 3}]


def test_merge_on_keys_updates_and_inserts(workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_csv(src / "a.csv", "id,v", ["1,a", "2,b"])
    spec = {
        "name": "merged",
        "extract": {"file": str(src / "a.csv")},
        "load": {"table": "merged", "mode": "merge", "keys": ["id"]},
    }
    pipeline(spec).run(workspace.session())
    write_csv(src / "a.csv", "id,v", ["2,B", "3,c", "3,C"])  # a key twice: the last wins
    pipeline(spec).run(workspace.session())
    assert rows(workspace, "SELECT id, v FROM main.merged ORDER BY id") == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "B"},
        {"id": 3, "v": "C"},
    ]


def _drifted(workspace: Workspace, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "a.csv", "id,v", ["1,a"])
    pipeline(simple_spec(data)).run(workspace.session())
    (data / "a.csv").unlink()
    write_csv(data / "b.csv", "id,v,extra", ["2,b,x"])
    return data


def test_schema_drift_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    data = _drifted(workspace, tmp_path)
    version = workspace.catalog.get("main.events").version
    with pytest.raises(
        PipelineFailed, match="schema drift in main.events: the data has new column extra"
    ):
        pipeline(simple_spec(data)).run(workspace.session())
    assert workspace.catalog.get("main.events").version == version
    assert workspace.lake.version("main", "events") == version
    [failed, _] = PipelineStore(workspace.meta).runs("events")
    assert failed.status == "failed" and "schema_evolution" in failed.error


def test_schema_evolution_adds_the_new_column(workspace: Workspace, tmp_path: Path) -> None:
    data = _drifted(workspace, tmp_path)
    evolved = pipeline(simple_spec(data, schema_evolution=True)).run(workspace.session())
    assert evolved.rows_written == 1
    assert rows(workspace, "SELECT id, v, extra FROM main.events ORDER BY id") == [
        {"id": 1, "v": "a", "extra": None},
        {"id": 2, "v": "b", "extra": "x"},
    ]


# -- faults: dead sources, retries, crashes --------------------------------------------------------


def test_a_dead_source_is_retried_then_the_run_fails_with_the_reason(
    workspace: Workspace, tmp_path: Path
) -> None:
    spec = {
        "name": "gone",
        "extract": {"file": str(tmp_path / "missing.csv")},
        "load": {"table": "gone"},
        "retries": {"attempts": 3, "backoff_s": 0.01},
    }
    with pytest.raises(PipelineFailed) as caught:
        pipeline(spec).run(workspace.session())
    result = caught.value.result
    assert result is not None and result.status == "failed"
    assert result.error.startswith("extract failed after 3 attempts: file not found")
    assert result.steps == {} or "extract" not in result.steps
    [stored] = PipelineStore(workspace.meta).runs("gone")
    assert stored.error == result.error and stored.finished_at is not None


def test_a_dead_database_is_retried_then_fails(workspace: Workspace) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    spec = {
        "name": "deaddb",
        "extract": {
            "sql_url": f"postgresql://u:hunter2@127.0.0.1:{port}/db",
            "table": "orders",
        },
        "load": {"table": "deaddb"},
        "retries": {"attempts": 2, "backoff_s": 0},
    }
    with pytest.raises(PipelineFailed) as caught:
        pipeline(spec).run(workspace.session())
    error = caught.value.result.error if caught.value.result else ""
    assert error.startswith("extract failed after 2 attempts: cannot read")
    assert "hunter2" not in error


def test_a_load_is_committed_at_most_once(workspace: Workspace, tmp_path: Path) -> None:
    """A retry of a load that did commit (the process died right after) writes nothing."""
    import pyarrow as pa

    workspace.catalog.create_table("main.once", pa.table({"id": pa.array([], pa.int64())}))
    batch = pa.table({"id": [1, 2]})
    args: dict[str, Any] = {
        "mode": "append",
        "keys": [],
        "evolve": False,
        "pipeline": "p",
        "run_id": "r",
        "watermark": 2,
    }
    assert commit(workspace, "main.once", batch, seq=1, **args) == (1, 2)
    assert commit(workspace, "main.once", batch, seq=1, **args) is None
    assert committed_seq(workspace, "main.once", "p") == 1
    assert workspace.lake.read("main", "once").num_rows == 2


def test_a_run_that_died_after_committing_is_continued_from_the_table(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "a.csv", "id,v", ["1,a", "2,b"])
    pipeline(simple_spec(data)).run(workspace.session())
    store = PipelineStore(workspace.meta)
    store.set_watermark("events", None, 0, "")  # as if the process died before recording it
    again = pipeline(simple_spec(data)).run(workspace.session())
    assert again.rows_written == 0
    assert store.watermark("events") == (2, 1)
    assert rows(workspace, "SELECT count(*) AS n FROM main.events") == [{"n": 2}]


def test_kill_9_mid_load_leaves_the_table_and_the_rerun_loads_exactly_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "a.csv", "id,amount", ["1,1.0", "2,2.0"])
    spec = {
        "name": "crashy",
        "extract": {
            "file": "data/*.csv",
            "options": {"schema": {"amount": "VARCHAR"}},
            "incremental": {"column": "id"},
        },
        "transform": [{"cleanse": [{"coerce": {"amount": "float"}}]}],
        "load": {"table": "main.crashy"},
    }
    yaml_file = tmp_path / "crashy.yaml"
    yaml_file.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    pipeline(yaml_file).run(workspace.session())
    before = workspace.lake.version("main", "crashy")

    write_csv(data / "b.csv", "id,amount", ["3,3.0", "4,oops", "5,5.0"])
    flag = tmp_path / "paused"
    env = {**os.environ, "DAP_HOME": str(workspace.settings.home), "DAP_USER": "tester"}
    env["DAP_TEST_PAUSE_BEFORE_COMMIT"] = str(flag)
    process = subprocess.Popen(
        [DAP, "pipeline", "run", str(yaml_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never reached its commit"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == -signal.SIGKILL
    assert workspace.lake.version("main", "crashy") == before  # nothing half-written
    store = PipelineStore(workspace.meta)
    killed = store.latest("crashy")
    assert killed is not None and killed.status == "running"  # as the killed process left it

    rerun = pipeline(yaml_file).run(workspace.session())
    assert rerun.rows_written == 2 and rerun.rows_quarantined == 1
    ids = [r["id"] for r in rows(workspace, "SELECT id FROM main.crashy ORDER BY id")]
    assert ids == [1, 2, 3, 5]  # every good row exactly once
    bad = rows(workspace, "SELECT _dap_reason FROM main.crashy__quarantine")
    assert bad == [{"_dap_reason": "amount: cannot convert 'oops' to float"}]  # not twice
    statuses = {r.run_id: r.status for r in store.runs("crashy")}
    assert sorted(statuses.values()) == ["failed", "succeeded", "succeeded"]
    dead = next(r for r in store.runs("crashy") if r.status == "failed")
    assert dead.run_id == killed.run_id and "stopped before the run finished" in dead.error


def test_a_live_run_blocks_a_second_one(workspace: Workspace, tmp_path: Path) -> None:
    from sqlalchemy import update

    from dap_kernel.pipelines import PipelineBusy
    from dap_kernel.pipelines.store import PipelineRun

    write_csv(tmp_path / "a.csv", "id", ["1"])
    spec = {"name": "busy", "extract": {"file": str(tmp_path / "a.csv")}, "load": {"table": "busy"}}
    store = PipelineStore(workspace.meta)
    store.start_run("other", "busy", principal="x", target="main.busy")
    with workspace.meta.session() as s:  # a run by another live process (our parent)
        s.execute(update(PipelineRun).where(PipelineRun.run_id == "other").values(pid=os.getppid()))
    with pytest.raises(PipelineBusy, match="already running"):
        pipeline(spec).run(workspace.session())
    with workspace.meta.session() as s:  # ...that process is gone now
        s.execute(update(PipelineRun).where(PipelineRun.run_id == "other").values(pid=2**22 + 7))
    assert pipeline(spec).run(workspace.session()).status == "succeeded"
    assert store.run("other").status == "failed"


# -- DAG ---------------------------------------------------------------------------------------


def _chain(folder: Path, deps: dict[str, list[str]]) -> None:
    write_csv(folder / "src.csv", "id", ["1"])
    for name, upstream in deps.items():
        spec = {
            "name": name,
            "depends_on": upstream,
            "extract": {"file": "src.csv"},
            "load": {"table": name, "mode": "overwrite"},
        }
        (folder / f"{name}.yaml").write_text(json.dumps(spec), encoding="utf-8")


def test_dependencies_run_first_in_order(workspace: Workspace, tmp_path: Path) -> None:
    _chain(tmp_path, {"raw": [], "clean": ["raw"], "report": ["clean", "raw"]})
    p = pipeline(tmp_path / "report.yaml")
    assert [x.name for x in p.upstream(workspace.session())] == ["raw", "clean", "report"]
    p.run(workspace.session(), with_deps=True)
    store = PipelineStore(workspace.meta)
    started = [r.pipeline for r in reversed(store.runs())]  # in the order they started
    assert started == ["raw", "clean", "report"]


def test_a_cycle_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    _chain(tmp_path, {"a": ["c"], "b": ["a"], "c": ["b"]})
    with pytest.raises(PipelineSpecError, match="cycle"):
        pipeline(tmp_path / "a.yaml").run(workspace.session(), with_deps=True)
    assert PipelineStore(workspace.meta).runs() == []


def test_an_unknown_dependency_is_named(workspace: Workspace, tmp_path: Path) -> None:
    _chain(tmp_path, {"a": ["ghost"]})
    with pytest.raises(PipelineSpecError, match="'ghost'"):
        pipeline(tmp_path / "a.yaml").run(workspace.session(), with_deps=True)


# -- governance, SQL steps, lineage ---------------------------------------------------------------


def test_sql_and_lookup_steps_are_governed_and_make_lineage(
    governed: Workspace, tmp_path: Path
) -> None:
    write_csv(tmp_path / "o.csv", "order_id,customer_id", ["1,1", "2,2", "3,3"])
    spec = {
        "name": "enriched",
        "extract": {"file": str(tmp_path / "o.csv")},
        "transform": [
            {"sql": "SELECT i.*, c.region FROM input i JOIN main.customers c USING (customer_id)"},
            {
                "cleanse": [
                    {
                        "lookup": {
                            "table": "main.customers",
                            "on": "customer_id",
                            "columns": ["email"],
                        }
                    }
                ]
            },
        ],
        "load": {"table": "main.enriched", "mode": "overwrite"},
    }
    with pytest.raises(QueryRefused):
        pipeline(spec).run(governed.session(Principal(name="bob")))
    with pytest.raises(QueryRefused, match="CREATE"):
        pipeline(spec).run(governed.session(Principal(name="ann", groups=frozenset({"analysts"}))))
    result = pipeline(spec).run(governed.session(Principal(name="tester")))
    assert result.rows_written == 3
    got = rows(governed, "SELECT order_id, region, email FROM main.enriched ORDER BY order_id")
    assert all(r["region"] and "@" in r["email"] for r in got)
    from dap_kernel.lineage import LineageStore

    graph = LineageStore(governed.meta).graph("main.enriched")
    upstream = {n.name if hasattr(n, "name") else n for n in graph.upstream}
    assert "main.customers" in upstream and str(tmp_path / "o.csv") in upstream


def test_openlineage_events_start_and_complete(tmp_path: Path) -> None:
    events = tmp_path / "ol.ndjson"
    ws = Workspace(Settings(home=tmp_path / "h", user="tester", openlineage_file=str(events)))
    try:
        write_csv(tmp_path / "a.csv", "id", ["1"])
        spec = {"name": "ol", "extract": {"file": str(tmp_path / "a.csv")}, "load": {"table": "ol"}}
        run = pipeline(spec).run(ws.session())
        bad = {
            "name": "olbad",
            "extract": {"file": str(tmp_path / "nope.csv")},
            "load": {"table": "x"},
            "retries": {"attempts": 1},
        }
        with pytest.raises(PipelineFailed):
            pipeline(bad).run(ws.session())
    finally:
        ws.close()
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    states = [(e["job"]["name"], e["eventType"]) for e in sent]
    assert states == [
        ("pipeline:ol", "START"),
        ("pipeline:ol", "COMPLETE"),
        ("pipeline:olbad", "START"),
        ("pipeline:olbad", "FAIL"),
    ]
    assert run.run_id  # the OpenLineage run id is derived from it


# -- PostgreSQL ------------------------------------------------------------------------------------


def test_postgres_table_into_the_lake_incrementally(
    workspace: Workspace, postgres_url: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(
            "CREATE TABLE orders (id int primary key, amount numeric(10,2), "
            "updated_at timestamp, note text)"
        )
        con.execute(
            "INSERT INTO orders VALUES (1, 10.5, '2024-01-01 10:00', 'a'), "
            "(2, 20, '2024-01-02 10:00', 'b')"
        )
    spec = {
        "name": "pg_orders",
        "extract": {
            "sql_url": postgres_url,
            "table": "orders",
            "columns": ["id", "amount", "updated_at"],
            "incremental": {"column": "updated_at"},
        },
        "load": {"table": "main.pg_orders", "mode": "merge", "keys": ["id"]},
    }
    first = pipeline(spec).run(workspace.session())
    assert first.rows_written == 2
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("UPDATE orders SET amount = 11, updated_at = '2024-01-03 10:00' WHERE id = 1")
        con.execute("INSERT INTO orders VALUES (3, 30, '2024-01-04 10:00', 'c')")
    second = pipeline(spec).run(workspace.session())
    assert second.rows_read == 2 and second.rows_written == 2
    got = rows(
        workspace, "SELECT id, CAST(amount AS DOUBLE) AS amount FROM main.pg_orders ORDER BY id"
    )
    assert got == [{"id": 1, "amount": 11.0}, {"id": 2, "amount": 20.0}, {"id": 3, "amount": 30.0}]
    assert "note" not in workspace.catalog.get("main.pg_orders").columns_frame()["column"].to_list()


# -- quality rules ---------------------------------------------------------------------------------


def test_validate_quarantines_rows_and_a_table_rule_fails_the_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_csv(tmp_path / "a.csv", "id,amount", ["1,5", ",6", "3,-1"])
    spec = {
        "name": "checked",
        "extract": {"file": str(tmp_path / "a.csv")},
        "validate": [{"not_null": "id"}, {"range": {"column": "amount", "min": 0}}],
        "load": {"table": "checked"},
    }
    result = pipeline(spec).run(workspace.session())
    assert (result.rows_written, result.rows_quarantined) == (1, 2)
    strict = {**spec, "name": "checked2", "validate": [{"row_count": {"min": 10}}]}
    with pytest.raises(PipelineFailed, match="nothing was loaded"):
        pipeline(strict).run(workspace.session())


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_run_status_history_list(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    shutil.copytree(FIXTURES, folder)
    runner = CliRunner()
    out = runner.invoke(app, ["pipeline", "run", str(folder / "orders.yaml")])
    assert out.exit_code == 0, out.output
    assert "rows read:        5" in out.output and "rows written:     2" in out.output
    assert "rows quarantined: 2" in out.output and "run id:" in out.output
    status = runner.invoke(app, ["pipeline", "status", "orders_clean"])
    assert "succeeded" in status.output and "watermark:" in status.output
    history = runner.invoke(app, ["pipeline", "history", "orders_clean", "-f", "csv"])
    assert history.output.splitlines()[0].startswith("run_id,status")
    assert len(history.output.splitlines()) == 2
    listed = runner.invoke(app, ["pipeline", "list", "-f", "csv"])
    assert "orders_clean,main.orders_clean" in listed.output


def test_cli_failure_is_one_line_and_exit_1(workspace: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nextract: {file: nope.csv}\nload: {table: t}\nretries: {attempts: 1}\n"
    )
    done = subprocess.run(
        [DAP, "pipeline", "run", str(bad)],
        env={**os.environ, "DAP_HOME": str(workspace.settings.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: pipeline bad failed (run ")
    assert "file not found" in lines[0]


# -- HTTP API --------------------------------------------------------------------------------------


class _Api:
    """A real local HTTP server: records after ?since=, a 503 first, or always 500 when dead."""

    def __init__(self) -> None:
        import http.server
        import threading
        import urllib.parse

        self.records: list[dict[str, Any]] = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
        self.dead = False
        self.calls = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.calls += 1
                if api.dead or api.calls == 1:
                    self.send_response(500 if api.dead else 503)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                since = int(query.get("since", ["0"])[0] or 0)
                body = json.dumps({"data": [r for r in api.records if r["id"] > since]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_server() -> Any:
    server = _Api()
    yield server
    server.close()


def test_http_api_incremental_and_a_dead_api(workspace: Workspace, api_server: _Api) -> None:
    api: dict[str, Any] = {
        "url": api_server.url,
        "records": "data",
        "backoff_s": 0,
        "incremental": {"param": "since", "field": "id"},
    }
    spec: dict[str, Any] = {
        "name": "api_orders",
        "extract": {"api": api, "incremental": {"column": "id"}},
        "load": {"table": "api_orders", "mode": "merge", "keys": ["id"]},
        "retries": {"attempts": 2, "backoff_s": 0},
    }
    first = pipeline(spec).run(workspace.session())  # the 503 is retried by the reader
    assert first.rows_written == 2 and first.watermark == 2
    api_server.records.append({"id": 3, "v": "c"})
    second = pipeline(spec).run(workspace.session())
    assert second.rows_read == 1 and second.watermark == 3
    assert [r["id"] for r in rows(workspace, "SELECT id FROM main.api_orders ORDER BY id")] == [
        1,
        2,
        3,
    ]
    api_server.dead = True
    dead = {**spec, "extract": {"api": {**api, "max_retries": 1}, "incremental": {"column": "id"}}}
    with pytest.raises(PipelineFailed) as caught:
        pipeline(dead).run(workspace.session())
    result = caught.value.result
    assert result is not None and result.error.startswith("extract failed after 2 attempts:")
    assert "500" in result.error
    assert workspace.lake.version("main", "api_orders") == second.table_version


def test_named_connectors_database_and_folder(workspace: Workspace, tmp_path: Path) -> None:
    import sqlite3

    from dap_kernel.connectors import Connectors

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        con.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 9.5), (2, 3.0)])
    folder = tmp_path / "drop"
    folder.mkdir()
    write_csv(folder / "x.csv", "id,v", ["1,a"])
    connectors = Connectors(workspace.meta, workspace.secrets)
    connectors.create("shop", f"sqlite:///{db}", owner="tester")
    connectors.create("inbox", f"file://{folder}", owner="tester")
    from_db = {
        "name": "from_db",
        "extract": {"connector": "shop", "table": "orders", "columns": ["id", "total"]},
        "load": {"table": "shop_orders"},
    }
    assert pipeline(from_db).run(workspace.session()).rows_written == 2
    from_folder = {
        "name": "from_folder",
        "extract": {"connector": "inbox", "path": "*.csv"},
        "load": {"table": "inbox"},
    }
    assert pipeline(from_folder).run(workspace.session()).rows_written == 1
    assert rows(workspace, "SELECT sum(total) AS t FROM main.shop_orders") == [{"t": 12.5}]

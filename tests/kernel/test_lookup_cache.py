"""The catalog rows a statement resolves are reused only under the metadata version they were
read at: any catalog write or policy change, in this process or another, is seen by the very
next statement. Attacks: an analyst whose grant was revoked, whose row filter or attributes
changed, or whose table was dropped or re-pointed must not be answered from what was resolved
before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import event

from dap_kernel.errors import QueryRefused, UnknownTable
from dap_kernel.governance.identity import Principal
from dap_kernel.governance.policy import AllowAllPolicy
from dap_kernel.session import Session, Workspace
from dap_kernel.settings import Settings


def as_user(ws: Workspace, name: str) -> Session:
    return ws.session(Principal(name=name, source="test"))


class CatalogReads:
    """Counts the catalog lookups that reach the metadata database."""

    def __init__(self, ws: Workspace) -> None:
        self.count = 0
        self._engine = ws.meta.engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _con: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM catalog_tables t LEFT JOIN catalog_schemas" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


@pytest.fixture
def reads(governed: Workspace) -> Iterator[CatalogReads]:
    counter = CatalogReads(governed)
    yield counter
    counter.close()


@pytest.fixture
def other(governed: Workspace) -> Iterator[Workspace]:
    """A second process on the same DAP home (its own engine, policy and catalog objects)."""
    ws = Workspace(Settings(home=governed.settings.home, user="tester"))
    yield ws
    ws.close()


def test_a_repeated_statement_reads_the_catalog_once(
    governed: Workspace, reads: CatalogReads
) -> None:
    ann = as_user(governed, "ann")
    for _ in range(3):
        ann.sql("SELECT count(*) FROM orders")
    assert reads.count == 1
    as_user(governed, "raj").sql("SELECT count(*) FROM orders")  # rows are not per principal
    assert reads.count == 1


def test_each_principal_keeps_its_own_row_filter(governed: Workspace, reads: CatalogReads) -> None:
    sql = "SELECT DISTINCT region FROM customers ORDER BY region"
    for _ in range(2):
        assert as_user(governed, "ann").sql(sql)["region"].to_list() == ["EMEA"]
        assert as_user(governed, "raj").sql(sql)["region"].to_list() == ["APAC"]
    assert reads.count == 1  # one resolution shared, two answers


def test_a_revoked_grant_is_refused_at_once(governed: Workspace, other: Workspace) -> None:
    governed.admin().grant("SELECT", "main", "user", "bob")
    bob = as_user(governed, "bob")
    assert bob.sql("SELECT count(*) FROM orders").item() > 0
    assert bob.sql("SELECT count(*) FROM orders").item() > 0  # resolved from the kept rows
    other.admin().revoke("SELECT", "main", "user", "bob")  # in another process
    with pytest.raises(QueryRefused, match="bob may not SELECT main.orders"):
        bob.sql("SELECT count(*) FROM orders")


def test_a_changed_row_filter_or_attribute_applies_at_once(
    governed: Workspace, other: Workspace
) -> None:
    ann = as_user(governed, "ann")
    sql = "SELECT DISTINCT region FROM customers"
    assert ann.sql(sql)["region"].to_list() == ["EMEA"]
    assert ann.sql(sql)["region"].to_list() == ["EMEA"]
    other.admin().add_user("ann", {"region": "AMER"})
    assert ann.sql(sql)["region"].to_list() == ["AMER"]
    other.admin().add_row_filter("main.customers", "FALSE")
    assert ann.sql(sql).height == 0


def test_a_table_replaced_elsewhere_is_read_afresh(governed: Workspace, other: Workspace) -> None:
    governed.catalog.create_table("t", pl.DataFrame({"a": [1]}))
    tester = as_user(governed, "tester")
    assert tester.sql("SELECT a FROM t").to_series().to_list() == [1]
    assert tester.sql("SELECT a FROM t").to_series().to_list() == [1]
    other.catalog.create_table("t", pl.DataFrame({"a": [2, 3]}), replace=True)
    assert tester.sql("SELECT a FROM t ORDER BY a").to_series().to_list() == [2, 3]
    other.catalog.write("t", pl.DataFrame({"a": [4]}), mode="append")
    assert tester.sql("SELECT a FROM t ORDER BY a").to_series().to_list() == [2, 3, 4]


def test_a_dropped_table_is_unknown_at_once(governed: Workspace, other: Workspace) -> None:
    governed.catalog.create_table("gone", pl.DataFrame({"a": [1]}))
    tester = as_user(governed, "tester")
    assert tester.sql("SELECT * FROM gone").height == 1
    other.catalog.drop("gone", purge=True)
    with pytest.raises(UnknownTable):
        tester.sql("SELECT * FROM gone")


def test_a_re_pointed_file_source_is_read_afresh(
    governed: Workspace, other: Workspace, tmp_path: Path
) -> None:
    first, second = tmp_path / "one.parquet", tmp_path / "two.parquet"
    pl.DataFrame({"v": ["one"]}).write_parquet(first)
    pl.DataFrame({"v": ["two"]}).write_parquet(second)
    governed.catalog.register_file("src", first)
    tester = as_user(governed, "tester")
    assert tester.sql("SELECT v FROM src").item() == "one"
    assert tester.sql("SELECT v FROM src").item() == "one"
    other.catalog.register_file("src", second, replace=True)
    assert tester.sql("SELECT v FROM src").item() == "two"


def test_another_policy_reads_the_catalog_for_every_statement(
    workspace: Workspace,
) -> None:
    workspace.catalog.create_table("t", pl.DataFrame({"a": [1]}))
    workspace.policy = AllowAllPolicy()  # its version (0) follows no catalog write
    counter = CatalogReads(workspace)
    try:
        session = workspace.session()
        for _ in range(3):
            session.sql("SELECT * FROM t")
        assert counter.count == 3
        assert workspace.catalog_version() is None
    finally:
        counter.close()

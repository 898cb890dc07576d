"""Cleansing transforms: each one on small frames, bad values captured per row, never nulled."""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl
import pytest

from dap_kernel import cleanse
from dap_kernel.errors import DapError, SchemaMismatch
from dap_kernel.quarantine import SCHEMA


def test_trim_and_case() -> None:
    df = pl.DataFrame({"name": ["  Ann Lee ", "   ", None], "n": [1, 2, 3]})
    trimmed = cleanse.trim(df, ["name", "n"])  # a number column is left alone
    assert trimmed["name"].to_list() == ["Ann Lee", None, None]
    assert trimmed["n"].to_list() == [1, 2, 3]
    words = pl.DataFrame({"w": ["MiXed case", "x"]})
    assert cleanse.lower(words, "w")["w"].to_list() == ["mixed case", "x"]
    assert cleanse.upper(words, "w")["w"].to_list() == ["MIXED CASE", "X"]
    assert cleanse.title(words, "w")["w"].to_list() == ["Mixed Case", "X"]


def test_unknown_column_is_a_clear_error() -> None:
    with pytest.raises(SchemaMismatch, match="no column nope"):
        cleanse.trim(pl.DataFrame({"a": ["x"]}), ["nope"])


def test_coerce_quarantines_values_that_do_not_convert() -> None:
    df = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "amount": ["1.5", "abc", "", " 2 ", None],
            "qty": ["12.0", "3", "4", "4.5", "1"],
            "ok": ["yes", "N", "true", "0", "maybe"],
            "day": ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"],
        }
    )
    good, bad = cleanse.coerce(
        df,
        {"amount": "float", "qty": "int", "ok": "bool", "day": "date"},
        source="orders.csv",
        run_id="r1",
    )
    assert good["id"].to_list() == [1, 3]
    assert good.schema["amount"] == pl.Float64 and good.schema["qty"] == pl.Int64
    assert good["amount"].to_list() == [1.5, None]  # empty is missing, not an error
    assert good["qty"].to_list() == [12, 4]
    assert good["ok"].to_list() == [True, True]
    assert good["day"].to_list() == [date(2024, 1, 2), date(2024, 1, 4)]
    assert bad.schema == pl.Schema(SCHEMA)
    reasons = dict(
        zip(
            bad["_dap_record"].map_elements(lambda r: json.loads(r)["id"]),
            bad["_dap_reason"],
            strict=True,
        )
    )
    assert reasons[2] == "amount: cannot convert 'abc' to float"
    assert reasons[4] == "qty: cannot convert '4.5' to int"
    assert reasons[5] == "ok: cannot convert 'maybe' to bool"
    assert set(bad["_dap_rule"]) == {"coerce"} and set(bad["_dap_source"]) == {"orders.csv"}
    assert set(bad["_dap_run_id"]) == {"r1"}
    assert good.height + bad.height == df.height  # every row is somewhere


def test_coerce_names_every_failing_column_of_a_row() -> None:
    df = pl.DataFrame({"a": ["x"], "b": ["y"]})
    good, bad = cleanse.coerce(df, {"a": "int", "b": "float"})
    assert good.is_empty()
    assert bad["_dap_reason"][0] == "a: cannot convert 'x' to int; b: cannot convert 'y' to float"


def test_coerce_unknown_type() -> None:
    with pytest.raises(DapError, match="unknown type 'money'"):
        cleanse.coerce(pl.DataFrame({"a": ["1"]}), {"a": "money"})


def test_coerce_datetime() -> None:
    df = pl.DataFrame({"t": ["2024-01-02 10:00:00", "2024-01-02T11:30:00", "soon"]})
    good, bad = cleanse.coerce(df, {"t": "datetime"})
    assert good["t"].to_list() == [datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 11, 30)]
    assert bad["_dap_reason"].to_list() == ["t: cannot convert 'soon' to datetime"]


def test_normalize_dates_in_several_formats() -> None:
    df = pl.DataFrame({"d": ["2024-01-02", "03/01/2024", "nonsense", None, ""]})
    good, bad = cleanse.normalize_dates(df, ["d"], ["%Y-%m-%d", "%d/%m/%Y"])
    assert good["d"].to_list() == [date(2024, 1, 2), date(2024, 1, 3), None, None]
    assert bad["_dap_reason"].to_list() == ["d: 'nonsense' matches none of %Y-%m-%d, %d/%m/%Y"]
    assert bad["_dap_rule"].to_list() == ["normalize_dates"]


def test_dedupe_keeps_the_newest_by_order() -> None:
    df = pl.DataFrame({"id": [1, 1, 2, 1], "v": ["b", "c", "x", "a"], "ts": [2, 3, 1, 1]})
    assert cleanse.dedupe(df, ["id"], keep="last", order_by=["ts"]).sort("id")["v"].to_list() == [
        "c",
        "x",
    ]
    assert cleanse.dedupe(df, "id", keep="first")["v"].to_list() == ["b", "x"]
    with pytest.raises(DapError, match="keep='middle'"):
        cleanse.dedupe(df, "id", keep="middle")


def test_map_values_standardizes_categories() -> None:
    df = pl.DataFrame({"country": ["UK", "United Kingdom", "FR", " uk ", None]})
    mapped = cleanse.map_values(df, "country", {"UK": "GB", "United Kingdom": "GB"})
    assert mapped["country"].to_list() == ["GB", "GB", "FR", " uk ", None]
    loose = cleanse.map_values(df, "country", {"uk": "GB"}, case_insensitive=True)
    assert loose["country"].to_list() == ["GB", "United Kingdom", "FR", "GB", None]
    other = cleanse.map_values(df, "country", {"FR": "FR"}, default="OTHER")
    assert other["country"].to_list() == ["OTHER", "OTHER", "FR", "OTHER", "OTHER"]


def test_units() -> None:
    df = pl.DataFrame({"w": [1.0, 2.2046226218], "t": [100.0, 32.0]})
    kg = cleanse.units(df, "w", "lb", "kg")
    assert kg["w"].round(6).to_list() == [0.453592, 1.0]
    both = cleanse.units(df, "w", "lb", "g", into="grams")
    assert both["w"].to_list() == df["w"].to_list() and round(both["grams"][0], 3) == 453.592
    celsius = cleanse.units(df, "t", "f", "c")
    assert [round(v, 4) for v in celsius["t"]] == [37.7778, 0.0]
    with pytest.raises(DapError, match="cannot convert kg"):
        cleanse.units(df, "w", "kg", "m")
    with pytest.raises(DapError, match="unknown unit 'stone'"):
        cleanse.units(df, "w", "stone", "kg")


def test_lookup_enriches_without_multiplying_rows() -> None:
    orders = pl.DataFrame({"order_id": [1, 2, 3], "customer_id": [10, 11, 99]})
    customers = pl.DataFrame(
        {"id": [10, 11], "segment": ["gold", "basic"], "region": ["EMEA", "APAC"]}
    )
    enriched = cleanse.lookup(orders, customers, {"customer_id": "id"}, ["segment"])
    assert enriched.columns == ["order_id", "customer_id", "segment"]
    assert enriched["segment"].to_list() == ["gold", "basic", None]
    twice = pl.concat([customers, customers])
    with pytest.raises(DapError, match="not unique"):
        cleanse.lookup(orders, twice, {"customer_id": "id"}, ["segment"])
    with pytest.raises(SchemaMismatch, match="overwrite column customer_id"):
        cleanse.lookup(orders, customers.rename({"region": "customer_id"}), {"order_id": "id"})


def test_derive_and_rename_and_drop() -> None:
    df = pl.DataFrame({"qty": [2, 3], "price": [1.5, 2.0]})
    out = cleanse.derive(df, {"total": "qty * price", "big": "total > 5"})
    assert out["total"].to_list() == [3.0, 6.0] and out["big"].to_list() == [False, True]
    with pytest.raises(DapError, match="derive bad"):
        cleanse.derive(df, {"bad": "nope_fn(qty)"})
    assert cleanse.rename(df, {"qty": "quantity"}).columns == ["quantity", "price"]
    assert cleanse.drop(df, ["price"]).columns == ["qty"]

"""Attack statements shared by the in-process, magics and REST suites.

Setup (tests/conftest.py ``make_governed``): ann sees only EMEA customers with masked e-mails
and redacted pii columns; bob has no grant at all. Each statement tries to reach raw rows by a
name the checker and the engine could resolve differently, or by the engine's own relations.
Each must be refused, or return only what the caller may see.
"""

from __future__ import annotations

import re
from typing import Any

# Names: CTEs and aliases that shadow catalog tables, in every scope DuckDB has.
NAME_ATTACKS = [
    "WITH customers AS (SELECT * FROM customers) SELECT * FROM customers",
    "SELECT email, region FROM customers UNION ALL "
    "(WITH customers AS (SELECT 'a' AS e, 'b' AS r) SELECT * FROM customers)",
    "SELECT * FROM customers WHERE EXISTS "
    "(WITH customers AS (SELECT 1 AS x) SELECT 1 FROM customers)",
    "WITH a AS (SELECT * FROM customers), customers AS (SELECT * FROM a) SELECT * FROM customers",
    "WITH a AS (SELECT * FROM customers), customers AS (SELECT 1 AS x) SELECT * FROM a",
    "WITH RECURSIVE customers AS (SELECT * FROM customers UNION SELECT * FROM customers) "
    "SELECT * FROM customers",
    "WITH RECURSIVE customers AS (SELECT * FROM customers) SELECT * FROM customers",
    "WITH RECURSIVE customers AS "
    "(SELECT * FROM customers UNION BY NAME SELECT * FROM customers) SELECT * FROM customers",
    "WITH RECURSIVE customers AS (SELECT * FROM customers UNION SELECT * FROM customers "
    "UNION SELECT * FROM customers) SELECT * FROM customers",
    "WITH RECURSIVE customers AS ((SELECT * FROM customers) UNION ALL "
    "(SELECT * FROM customers WHERE false)) SELECT * FROM customers",
    "WITH RECURSIVE r AS (SELECT email FROM customers UNION SELECT email FROM r) SELECT * FROM r",
    "WITH customers AS MATERIALIZED (SELECT * FROM customers) SELECT * FROM customers",
    "WITH customers AS NOT MATERIALIZED (SELECT * FROM customers) SELECT * FROM customers",
    "SELECT email FROM customers UNION ALL "
    '(WITH "Customers" AS (SELECT \'x\' AS e) SELECT * FROM "CUSTOMERS")',
    'WITH CUSTOMERS AS (SELECT 1 AS x) SELECT * FROM "customers" c, main.customers m',
    "SELECT (WITH customers AS (SELECT 1 AS x) SELECT count(*) FROM customers) AS n, email, region "
    "FROM customers",
    "SELECT email, region FROM customers EXCEPT "
    "(WITH customers AS (SELECT 'a' AS e, 'b' AS r) SELECT * FROM customers)",
    "SELECT email FROM customers WHERE region IN "
    "(WITH customers AS (SELECT 'APAC' AS r) SELECT r FROM customers)",
    "SELECT * FROM customers c, LATERAL "
    "(WITH customers AS (SELECT 1 AS one) SELECT * FROM customers) l",
    "SELECT * FROM (WITH customers AS (SELECT 1 AS one) SELECT * FROM customers) a, customers b",
    "WITH a AS (WITH customers AS (SELECT 1 AS x) SELECT * FROM customers) "
    "SELECT * FROM a, customers",
    "WITH customers AS (WITH customers AS (SELECT * FROM customers) SELECT * FROM customers) "
    "SELECT * FROM customers",
    "WITH customers AS (SELECT 1 AS x) SELECT * FROM main.customers",
    'WITH customers AS (SELECT 1 AS x) SELECT * FROM "main"."CUSTOMERS"',
    "WITH customers AS (SELECT 1 AS x) FROM main.customers",
    "SELECT * FROM orders AS customers, customers",
    "SELECT * FROM (SELECT 1 AS x) AS customers JOIN customers c2 ON TRUE",
    "WITH t AS (SELECT 1 AS x) SELECT * FROM main.customers AS t",
    "WITH customers AS (SELECT * FROM customers) SELECT to_json(customers) AS j FROM customers",
    "WITH customers AS (SELECT 1 AS x) SELECT * FROM customers, (SELECT * FROM main.customers) m",
    "SELECT * FROM customers WHERE customer_id = "
    "(WITH customers AS (SELECT 1 AS id) SELECT id FROM customers)",
    "SELECT * FROM customers USING SAMPLE 100% UNION ALL "
    "(WITH customers AS (SELECT * FROM customers) SELECT * FROM customers)",
    "WITH customers AS (SELECT * FROM orders) "
    "SELECT * FROM customers JOIN main.customers USING (customer_id)",
    "WITH c AS (SELECT * FROM customers) SELECT * FROM c UNION ALL SELECT * FROM main.customers",
    "SELECT * FROM main . customers",
    "SELECT * FROM customers FOR VERSION AS OF 0",
    "WITH customers AS (SELECT 1 AS x) SELECT * FROM main.customers FOR VERSION AS OF 0",
    "WITH c AS (SELECT * FROM customers) SELECT * FROM c FOR VERSION AS OF 0",
    "SUMMARIZE (WITH customers AS (SELECT 1 AS x) SELECT * FROM main.customers)",
    "DESCRIBE (WITH customers AS (SELECT * FROM customers) SELECT * FROM customers)",
    "PIVOT (WITH customers AS (SELECT * FROM customers) SELECT * FROM customers) "
    "ON region USING count(*)",
    # The engine's own relations, and names that only the engine should know.
    "SELECT * FROM duckdb_views",
    "SELECT * FROM duckdb_tables",
    "SELECT * FROM duckdb_columns",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_class",
    "SELECT * FROM pg_catalog.pg_tables",
    "WITH duckdb_views AS (SELECT 1 AS x) SELECT * FROM duckdb_views",
    "WITH x AS (SELECT 1) SELECT * FROM duckdb_columns",
    'SELECT * FROM "main#0".customers',
    'SELECT * FROM "main@v0".customers',
    "SELECT * FROM _input_0.customers",
    "SELECT * FROM system.main.duckdb_tables",
    "SELECT * FROM temp.main.customers",
]

# Values a filtered or masked caller must never see (the demo data, tests/conftest.py).
HIDDEN_REGIONS = ("APAC", "AMER")


def leaks(rows: Any, *, no_grant: bool = False) -> str:
    """Why ``rows`` (any JSON-able answer) shows something the caller may not see, or ""."""
    text = repr(rows)
    if any(region in text for region in HIDDEN_REGIONS):
        return "a filtered row leaked"
    if "@example.com" in text.replace("***@example.com", ""):
        return "a raw e-mail leaked"
    if no_grant and ("EMEA" in text or "example.com" in text):
        return "a user without a grant read governed rows"
    if re.search(r"#[0-9a-f]{24}", text):
        return "the engine's private name leaked"
    return ""


# Statements that fail at run time, hoping the message carries a value of a hidden row.
ERROR_ATTACKS = [
    "SELECT * FROM customers WHERE CAST(name AS INT) = 1",
    "SELECT CAST(email AS INT) FROM customers",
    "SELECT error(email) FROM customers",
    "SELECT * FROM customers WHERE error(region || email) IS NULL",
    "SELECT * FROM customers WHERE CAST(region || city AS DATE) IS NULL",
    "SELECT 1 // (CASE WHEN region = 'APAC' THEN 0 ELSE 1 END)::INT AS v FROM customers",
    "SELECT * FROM customers c WHERE CAST(c.customer_id::VARCHAR || c.email AS INT) > 0",
]

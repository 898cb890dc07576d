"""A deterministic retail data set for the quickstart, tests and demos.

Same ``seed`` and ``scale`` → the same rows, byte for byte, so tests can assert exact numbers.
At ``scale=1`` about one million rows: 10k customers (with PII: names, emails, phones), 500
products, 100k orders, ~300k order lines and 600k web events. One A/B test ran on it:
``experiment_exposures`` holds every customer's variant of ``new_checkout`` (assigned by
:mod:`dap_kernel.experiments`' hash), and treatment customers order a little more after its
start, so orders before and after the start serve as pre- and post-period metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from .catalog import Catalog, TableInfo

FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
LAST = [
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Okafor",
    "Silva",
    "Dubois",
    "Tanaka",
    "Jensen",
    "Novak",
    "Haddad",
    "Larsen",
    "Moreau",
    "Costa",
]
GEO = {
    "EMEA": {"Germany": ["Berlin", "Munich"], "France": ["Paris", "Lyon"], "UK": ["London"]},
    "AMER": {"USA": ["New York", "Chicago", "Austin"], "Brazil": ["São Paulo"]},
    "APAC": {"Japan": ["Tokyo", "Osaka"], "Australia": ["Sydney"]},
}
CATEGORIES = {
    "Electronics": ["Audio", "Phones", "Computers"],
    "Home": ["Kitchen", "Furniture"],
    "Sports": ["Outdoor", "Fitness"],
    "Books": ["Fiction", "Non-fiction"],
}
CHANNELS = ["web", "mobile", "store"]
STATUSES = ["delivered", "delivered", "delivered", "shipped", "cancelled", "returned"]
EVENTS = ["page_view", "page_view", "page_view", "search", "add_to_cart", "checkout"]
START = date(2024, 1, 1)
DAYS = 730


def customers(rng: np.random.Generator, n: int) -> pl.DataFrame:
    places = [(r, c, city) for r, cs in GEO.items() for c, cities in cs.items() for city in cities]
    place = rng.integers(0, len(places), n)
    first = np.array(FIRST)[rng.integers(0, len(FIRST), n)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n)]
    ids = np.arange(1, n + 1)
    return pl.DataFrame(
        {
            "customer_id": ids,
            "name": [f"{f} {la}" for f, la in zip(first, last, strict=True)],
            "email": [
                f"{f.lower()}.{la.lower()}{i}@example.com"
                for f, la, i in zip(first, last, ids, strict=True)
            ],
            "phone": [f"+1-555-{i % 10000:04d}" for i in ids],
            "region": [places[p][0] for p in place],
            "country": [places[p][1] for p in place],
            "city": [places[p][2] for p in place],
            "segment": np.array(["consumer", "small_business", "enterprise"])[
                rng.choice(3, n, p=[0.7, 0.2, 0.1])
            ],
            "signup_date": [START + timedelta(days=int(d)) for d in rng.integers(0, DAYS, n)],
        }
    )


def products(rng: np.random.Generator, n: int) -> pl.DataFrame:
    pairs = [(c, s) for c, subs in CATEGORIES.items() for s in subs]
    pick = rng.integers(0, len(pairs), n)
    price = np.round(rng.lognormal(3.5, 0.8, n), 2)
    return pl.DataFrame(
        {
            "product_id": np.arange(1, n + 1),
            "name": [f"{pairs[p][1]} item {i + 1}" for i, p in enumerate(pick)],
            "category": [pairs[p][0] for p in pick],
            "subcategory": [pairs[p][1] for p in pick],
            "unit_price": price,
            "unit_cost": np.round(price * rng.uniform(0.4, 0.8, n), 2),
        }
    )


def orders(rng: np.random.Generator, n: int, n_customers: int) -> pl.DataFrame:
    day = rng.integers(0, DAYS, n)
    seconds = rng.integers(0, 86_400, n)
    return (
        pl.DataFrame(
            {
                "order_id": np.arange(1, n + 1),
                "customer_id": rng.integers(1, n_customers + 1, n),
                "order_ts": [
                    datetime.combine(START, datetime.min.time())
                    + timedelta(days=int(d), seconds=int(s))
                    for d, s in zip(day, seconds, strict=True)
                ],
                "channel": np.array(CHANNELS)[rng.choice(3, n, p=[0.5, 0.3, 0.2])],
                "status": np.array(STATUSES)[rng.integers(0, len(STATUSES), n)],
            }
        )
        .sort("order_ts")
        .with_columns(pl.col("order_ts").dt.cast_time_unit("us"))
    )


def order_lines(
    rng: np.random.Generator, orders_df: pl.DataFrame, prods: pl.DataFrame
) -> pl.DataFrame:
    per_order = rng.integers(1, 6, orders_df.height)  # 1..5 lines, mean 3
    order_ids = np.repeat(orders_df["order_id"].to_numpy(), per_order)
    n = len(order_ids)
    product = rng.integers(1, prods.height + 1, n)
    price = prods["unit_price"].to_numpy()[product - 1]
    discount = np.array([0.0, 0.0, 0.0, 0.05, 0.1, 0.2])[rng.integers(0, 6, n)]
    return pl.DataFrame(
        {
            "order_id": order_ids,
            "line_no": np.concatenate([np.arange(1, k + 1) for k in per_order]),
            "product_id": product,
            "quantity": rng.integers(1, 5, n),
            "unit_price": price,
            "discount": discount,
        }
    )


def web_events(rng: np.random.Generator, n: int, n_customers: int) -> pl.DataFrame:
    start = datetime.combine(START, datetime.min.time())
    offsets = np.sort(rng.integers(0, DAYS * 86_400, n))
    customer = rng.integers(1, n_customers + 1, n)
    anonymous = rng.random(n) < 0.3
    return pl.DataFrame(
        {
            "event_id": np.arange(1, n + 1),
            "event_ts": [start + timedelta(seconds=int(s)) for s in offsets],
            "customer_id": pl.Series(np.where(anonymous, 0, customer)).replace(0, None),
            "session_id": [f"s{v:08x}" for v in rng.integers(0, n // 4 + 1, n)],
            "event_type": np.array(EVENTS)[rng.integers(0, len(EVENTS), n)],
            "page": np.array(["/", "/search", "/product", "/cart", "/checkout", "/account"])[
                rng.integers(0, 6, n)
            ],
            "device": np.array(["desktop", "mobile", "tablet"])[
                rng.choice(3, n, p=[0.5, 0.4, 0.1])
            ],
        }
    ).with_columns(pl.col("event_ts").dt.cast_time_unit("us"))


# The demo's A/B test: it starts half-way through the two years, every customer is exposed in
# its first week, and after the start about 2% of the control's orders move to treatment
# customers (so the order count, lines and revenue are those of the data set without it).
EXPERIMENT_NAME = "new_checkout"
EXPERIMENT_SALT = "new-checkout-2025"
EXPERIMENT_START = datetime.combine(START, datetime.min.time()) + timedelta(days=DAYS // 2)
EXPERIMENT_LIFT = 0.02


def experiment(
    seed: int, cust: pl.DataFrame, ords: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The exposures table and the orders with the treatment's effect. Its own random stream,
    so the other tables are what they were before the experiment was added."""
    from .experiments.assignment import assign_many
    from .experiments.definition import Experiment

    rng = np.random.default_rng([seed, 2])
    definition = Experiment(EXPERIMENT_NAME, unit="customer_id", salt=EXPERIMENT_SALT)
    ids = cust["customer_id"].to_numpy()
    variant = np.array(assign_many(definition, ids.tolist()))
    hours = rng.integers(0, 7 * 24, len(ids))
    exposures = pl.DataFrame(
        {
            "customer_id": ids,
            "variant": variant,
            "exposed_at": [EXPERIMENT_START + timedelta(hours=int(h)) for h in hours],
        }
    ).with_columns(pl.col("exposed_at").dt.cast_time_unit("us"))
    treated = ids[variant == "treatment"]
    control = np.zeros(int(ids.max()) + 1, dtype=bool)
    control[ids[variant == "control"]] = True
    customer = ords["customer_id"].to_numpy().copy()
    after = (ords["order_ts"] >= EXPERIMENT_START).to_numpy()
    move = after & control[customer] & (rng.random(len(customer)) < EXPERIMENT_LIFT)
    if len(treated):
        customer[move] = rng.choice(treated, int(move.sum()))
    return exposures, ords.with_columns(pl.Series("customer_id", customer))


DESCRIPTIONS: dict[str, tuple[str, list[str], dict[str, str], dict[str, list[str]]]] = {
    "customers": (
        "One row per customer: identity, contact details and location. Contains PII.",
        ["retail", "pii", "dimension"],
        {
            "customer_id": "Customer key",
            "name": "Full name",
            "email": "Contact email address",
            "phone": "Contact phone number",
            "region": "Sales region (EMEA, AMER, APAC)",
            "segment": "consumer, small_business or enterprise",
            "signup_date": "Day the customer registered",
        },
        {"name": ["pii"], "email": ["pii", "email"], "phone": ["pii"]},
    ),
    "products": (
        "Product catalogue with list price and unit cost.",
        ["retail", "dimension"],
        {
            "product_id": "Product key",
            "unit_price": "List price in USD",
            "unit_cost": "Cost in USD",
        },
        {},
    ),
    "orders": (
        "One row per order: who ordered, when, through which channel, and its status.",
        ["retail", "fact"],
        {
            "order_id": "Order key",
            "customer_id": "References customers",
            "order_ts": "Order time (UTC)",
        },
        {},
    ),
    "order_lines": (
        "Order line items: product, quantity, price and discount. "
        "Revenue = quantity × unit_price × (1 − discount).",
        ["retail", "fact"],
        {
            "order_id": "References orders",
            "product_id": "References products",
            "discount": "Fraction off list price",
        },
        {},
    ),
    "web_events": (
        "Clickstream events from the web shop and app; customer_id is empty for anonymous visits.",
        ["retail", "events"],
        {
            "event_type": "page_view, search, add_to_cart or checkout",
            "session_id": "Browser session",
        },
        {},
    ),
    "experiment_exposures": (
        "A/B test new_checkout: each customer's variant (control or treatment) and first "
        "exposure time. Analyse with dap.experiments.",
        ["experiments", "ab_test"],
        {
            "customer_id": "References customers",
            "variant": "control or treatment, from dap.experiments' md5 assignment",
            "exposed_at": "First exposure (UTC)",
        },
        {},
    ),
}


def build(
    catalog: Catalog,
    *,
    scale: float = 1.0,
    seed: int = 42,
    owner: str = "",
    progress: Callable[[str], None] | None = None,
) -> list[TableInfo]:
    """Create (or replace) the six demo tables in the ``main`` schema and catalog them."""
    if scale <= 0:
        from .errors import DapError

        raise DapError("--scale must be greater than 0")
    rng = np.random.default_rng(seed)
    n_customers = max(10, int(10_000 * scale))
    cust = customers(rng, n_customers)
    prods = products(rng, max(20, int(500 * min(scale, 1.0))))
    ords = orders(rng, max(50, int(100_000 * scale)), n_customers)
    lines = order_lines(rng, ords, prods)
    events = web_events(rng, max(100, int(600_000 * scale)), n_customers)
    exposures, ords = experiment(seed, cust, ords)
    frames = {
        "customers": cust,
        "products": prods,
        "orders": ords,
        "order_lines": lines,
        "web_events": events,
        "experiment_exposures": exposures,
    }
    created = []
    for name, frame in frames.items():
        if progress:
            progress(f"{name}: {frame.height:,} rows")
        description, tags, column_docs, column_tags = DESCRIPTIONS[name]
        created.append(
            catalog.create_table(
                name,
                frame,
                description=description,
                owner=owner,
                tags=tags,
                column_descriptions=column_docs,
                column_tags=column_tags,
                replace=True,
            )
        )
    return created

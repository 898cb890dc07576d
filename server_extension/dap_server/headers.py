"""Security headers of every DAP response, API and dashboard pages alike.

Jupyter already sends ``X-Content-Type-Options: nosniff`` and a ``Content-Security-Policy``
with ``frame-ancestors 'self'`` (and ``default-src 'none'`` on its API handlers). DAP adds what
governed answers need on top: they must not be kept by a browser's or a proxy's cache (every
copy of data is data), must not leak their URL — which may carry a query id or a filter — to
another site through the Referer, and must not be framed by another site, for browsers that
read ``X-Frame-Options`` rather than ``frame-ancestors``.

Over HTTPS a response also says ``Strict-Transport-Security``: a browser that once reached DAP
encrypted never tries it in clear again (where a network attacker could read its cookie or key).
Never over plain HTTP, where the header means nothing and a loopback trial must stay reachable.
"""

from __future__ import annotations

from tornado.web import RequestHandler

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=31536000"  # a year; no includeSubDomains: DAP does not speak for its neighbours


def secure(handler: RequestHandler) -> None:
    """Set :data:`HEADERS` (and :data:`HSTS` over HTTPS) on ``handler``'s response (from its
    ``set_default_headers``, so error pages get them too)."""
    for name, value in HEADERS.items():
        handler.set_header(name, value)
    if handler.request.protocol == "https":
        handler.set_header("Strict-Transport-Security", HSTS)

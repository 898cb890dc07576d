"""Security headers of every DAP response, API and dashboard pages alike.

Jupyter already sends ``X-Content-Type-Options: nosniff`` and a ``Content-Security-Policy``
with ``frame-ancestors 'self'`` (and ``default-src 'none'`` on its API handlers). DAP adds what
governed answers need on top: they must not be kept by a browser's or a proxy's cache (every
copy of data is data), must not leak their URL — which may carry a query id or a filter — to
another site through the Referer, and must not be framed by another site, for browsers that
read ``X-Frame-Options`` rather than ``frame-ancestors``.
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


def secure(handler: RequestHandler) -> None:
    """Set :data:`HEADERS` on ``handler``'s response (from its ``set_default_headers``, so
    error pages get them too)."""
    for name, value in HEADERS.items():
        handler.set_header(name, value)

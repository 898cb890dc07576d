"""Callable modules: ``dap.lineage("orders")`` and ``dap.lineage.graph(...)`` both work.

Python binds a submodule onto its package once it is imported, which would hide a function of
the same name in the package; making the module itself callable keeps both spellings.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def callable_module(name: str, func: Callable[..., Any]) -> None:
    """Make module ``name`` call ``func`` when called (put at the end of the module)."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    sys.modules[name].__class__ = _CallableModule

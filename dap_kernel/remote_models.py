"""The model registry over REST: the :class:`~dap_kernel.ml.registry.ModelRegistry` of a kernel
whose DAP is a service (``DAP_SERVICE_URL``).

Aliases and promotions are made by the service with its in-process registry, the functions
every door ends in, so who may, the threshold and the audit record are the same through either
door. Registering a model trained in this kernel is refused: the service would have to load a
model file the kernel sent, which is a pickle, and a server that unpickles what a caller
uploads runs that caller's code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from .rest_calls import RestCalls
from .transport.errors import NotAvailableOverHttp

if TYPE_CHECKING:
    from .ml.registry import Promotion
    from .ml.results import TrainedModel


class HttpModels:
    """The caller's registry changes, made by the service (REST ``models/{name}/…``)."""

    def __init__(self, session: RestCalls) -> None:
        self._session = session

    def prepare(self, name: str) -> None:
        raise NotAvailableOverHttp(
            f"a model trained in this kernel cannot be registered on the DAP service as {name}:"
            " the service never loads model files a caller uploads. Train it without name= here"
            " (it is tracked in this kernel's MLflow store), or in a session of the service"
        )

    def record(self, model: TrainedModel) -> TrainedModel:
        self.prepare(str(model.name))
        return model  # not reached: prepare refuses

    def alias(self, name: str, alias_name: str, version: int) -> None:
        path = f"models/{quote(name, safe='')}/aliases/{quote(alias_name, safe='')}"
        self._session._json("POST", path, json={"version": version})

    def promote(
        self, name: str, version: int, *, metric: str | None, min_improvement: float
    ) -> Promotion:
        from .ml.registry import Promotion

        body = {"version": version, "metric": metric, "min_improvement": min_improvement}
        done = self._session._json("POST", f"models/{quote(name, safe='')}/promote", json=body)
        return Promotion(**(done or {}))

"""The model registry under governance: recording a trained model, aliases, promotion, and
finding the version a reference names.

A reference is ``name`` (its ``@champion``), ``name@alias``, ``models:/name@alias``,
``name/3`` or ``models:/name/3``. Every operation first decides who may (:mod:`.access`), then
asks MLflow (:mod:`.tracking`). Registration and promotion are written to DAP's audit log in
the same hash chain as queries; a refused promotion is recorded too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..caller import client_of
from ..errors import QueryRefused
from .access import MANAGE, USE, model_name, require
from .data import ModelSession
from .errors import MLError, PromotionRefused, UnknownModel
from .tracking import (
    CHALLENGER,
    CHAMPION,
    VersionInfo,
    active,
    aliases,
    log_training,
    owner_of,
    set_alias,
    store_for,
    version_info,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from contextlib import AbstractContextManager

    from .results import TrainedModel

LOWER_IS_BETTER = ("rmse", "mae")
ALIASES = (CHAMPION, CHALLENGER)


def parse_reference(reference: str) -> tuple[str, str]:
    """``(name, selector)``: the selector is a version number or ``@alias``.

    >>> parse_reference("models:/churn@champion"), parse_reference("churn/3")
    (('churn', '@champion'), ('churn', '3'))
    """
    if not isinstance(reference, str) or not reference.strip():
        raise MLError("name a model: NAME, NAME@ALIAS, NAME/VERSION or models:/NAME@ALIAS")
    text = reference.strip().removeprefix("models:/")
    if "@" in text:
        name, _, alias = text.partition("@")
        if not alias.replace("_", "").replace("-", "").isalnum():
            raise MLError(f"invalid alias in {reference!r}")
        return model_name(name), f"@{alias}"
    if "/" in text:
        name, _, version = text.partition("/")
        if not version.isdigit() or int(version) < 1:
            raise MLError(f"invalid version in {reference!r}: a number from 1")
        return model_name(name), str(int(version))
    return model_name(text), f"@{CHAMPION}"


class Session(ModelSession, Protocol):
    """An in-process session: a model session that also writes the workspace's audit chain
    (what :class:`~dap_kernel.session.Session` is; named here so that ``ml`` stays below it)."""

    def audit_change(
        self, action: str, tables: Iterable[str] = (), *, statement: str = ""
    ) -> AbstractContextManager[Any]: ...


class ModelRegistry(Protocol):
    """The registry changes a client offers: in process (:class:`LocalModels`, audited in the
    workspace's chain) or on the DAP service (``dap_kernel.remote_models``, which asks the
    service to make the same calls). ``dap.ml`` calls this, never asking which it holds."""

    def prepare(self, name: str) -> None:
        """Refuse now, before any training, a name the caller could not register."""

    def record(self, model: TrainedModel) -> TrainedModel: ...

    def alias(self, name: str, alias_name: str, version: int) -> None: ...

    def promote(
        self, name: str, version: int, *, metric: str | None, min_improvement: float
    ) -> Promotion: ...


class LocalModels:
    """:class:`ModelRegistry` of an in-process session: the functions below, on it."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def prepare(self, name: str) -> None:
        store = store_for(self._session)
        with active(store) as mlflow:
            owner = owner_of(mlflow, store, name)
        if owner is None:
            return
        try:
            require(self._session, MANAGE, name, owner)
        except QueryRefused:  # audited as the registration it refuses
            with _audit(self._session, "model_register", f"register model:{name}"):
                raise

    def record(self, model: TrainedModel) -> TrainedModel:
        return record(model, self._session)

    def alias(self, name: str, alias_name: str, version: int) -> None:
        set_alias_of(self._session, name, alias_name, version)

    def promote(
        self, name: str, version: int, *, metric: str | None, min_improvement: float
    ) -> Promotion:
        return promote_version(
            self._session, name, version, metric=metric, min_improvement=min_improvement
        )


def registry_of(session: ModelSession | None) -> ModelRegistry:
    """The registry of ``session``'s client (the caller's own when None)."""
    found: ModelRegistry = client_of(session).models
    return found


def _audit(session: Session, action: str, statement: str) -> AbstractContextManager[Any]:
    """The session's audit of a registry change, in the workspace's hash chain."""
    return session.audit_change(action, [], statement=statement)


def record(model: TrainedModel, session: Session) -> TrainedModel:
    """Log ``model`` to MLflow; when it has a name, register a new version (``@challenger``,
    and ``@champion`` if the model had none), audited. Refused before anything is written
    when the name is someone else's and the caller holds no MODIFY on it."""
    store = store_for(session)
    if model.name is None:
        run_id, uri, _ = log_training(model, store)
        return dataclasses.replace(model, run_id=run_id, model_uri=uri)
    name = model.name
    with active(store) as mlflow:
        owner = owner_of(mlflow, store, name)
    statement = f"register model:{name} from {', '.join(model.tables) or 'a query'}"
    with _audit(session, "model_register", statement):
        if owner is not None:
            require(session, MANAGE, name, owner)
        run_id, uri, version = log_training(model, store)
        assert version is not None
        with active(store) as mlflow:
            given = [CHALLENGER]
            if CHAMPION not in aliases(mlflow, store, name):
                given.append(CHAMPION)
            for alias in given:
                set_alias(mlflow, store, name, alias, version)
    return dataclasses.replace(
        model, run_id=run_id, model_uri=uri, version=version, aliases=tuple(sorted(given))
    )


def resolve(reference: str, session: ModelSession, privilege: str = USE) -> VersionInfo:
    """The version a reference names, once the caller is known to hold ``privilege`` (or to
    own the model): refused (403) before anything about the model is told."""
    name, selector = parse_reference(reference)
    store = store_for(session)
    with active(store) as mlflow:
        owner = owner_of(mlflow, store, name)
        require(session, privilege, name, owner)
        if owner is None:
            raise UnknownModel(f"no registered model {name}")
        return version_info(mlflow, store, name, selector)


def alias(name: str, alias_name: str, version: int, *, session: ModelSession | None = None) -> None:
    """Point ``name@alias_name`` at ``version`` (needs ownership or MODIFY; audited).
    ``@champion`` is set by :func:`promote` only, against its threshold."""
    registry_of(session).alias(name, alias_name, int(version))


def set_alias_of(session: Session, name: str, alias_name: str, version: int) -> None:
    """:func:`alias` in the session's own workspace (what every door ends in)."""
    if alias_name == CHAMPION:
        raise MLError("@champion is set by dap.ml.promote, which checks the metric threshold")
    store = store_for(session)
    statement = f"alias model:{name}@{alias_name} = v{version}"
    with _audit(session, "model_alias", statement):
        info = resolve(f"{name}/{int(version)}", session, MANAGE)
        with active(store) as mlflow:
            set_alias(mlflow, store, info.name, alias_name, info.version)


@dataclass(frozen=True)
class Promotion:
    """A promotion to ``@champion``: which version, by which metric, against whom."""

    name: str
    version: int
    metric: str
    value: float
    previous: int | None
    previous_value: float | None

    def _repr_html_(self) -> str:
        import html

        was = (
            f"v{self.previous} ({self.metric} {self.previous_value:.4f})"
            if self.previous is not None and self.previous_value is not None
            else "no champion"
        )
        text = (
            f"{self.name} v{self.version} is @champion ({self.metric} {self.value:.4f}); was {was}"
        )
        return f"<div>{html.escape(text)}</div>"


def promote(
    name: str,
    version: int,
    *,
    metric: str | None = None,
    min_improvement: float = 0.0,
    session: ModelSession | None = None,
) -> Promotion:
    """Make ``version`` the ``@champion`` of ``name`` when its cross-validated ``metric``
    (default: ROC AUC, or R² for a regression) beats the champion's by more than
    ``min_improvement`` (lower is better for rmse and mae); otherwise
    :class:`PromotionRefused`. Needs ownership or MODIFY on ``model:NAME``; the attempt,
    granted or refused, is in the audit log."""
    return registry_of(session).promote(
        name, int(version), metric=metric, min_improvement=min_improvement
    )


def promote_version(
    governed: Session, name: str, version: int, *, metric: str | None, min_improvement: float
) -> Promotion:
    """:func:`promote` in the session's own workspace (what every door ends in)."""
    if min_improvement < 0:
        raise MLError("min_improvement is a margin of at least 0")
    store = store_for(governed)
    statement = (
        f"promote model:{name} v{int(version)} to @champion "
        f"({metric or 'primary metric'}, min_improvement {min_improvement:g})"
    )
    with _audit(governed, "model_promote", statement), active(store) as mlflow:
        candidate = resolve(f"{name}/{int(version)}", governed, MANAGE)
        chosen = metric or candidate.primary_metric
        if chosen not in candidate.metrics:
            known = ", ".join(k for k in candidate.metrics if not k.endswith("_std"))
            raise MLError(f"version {candidate.version} has no metric {chosen!r}: {known}")
        value = candidate.metrics[chosen]
        current = aliases(mlflow, store, candidate.name).get(CHAMPION)
        previous_value: float | None = None
        if current is not None:
            if current == candidate.version:
                raise PromotionRefused(f"{name} v{current} is @champion already")
            champion = version_info(mlflow, store, candidate.name, str(current))
            previous_value = champion.metrics.get(chosen)
            if previous_value is not None:
                gain = (
                    previous_value - value if chosen in LOWER_IS_BETTER else value - previous_value
                )
                if gain <= min_improvement:
                    raise PromotionRefused(
                        f"{name} v{candidate.version} {chosen} {value:.4f} does not beat "
                        f"@champion v{current} ({previous_value:.4f}) by more than "
                        f"{min_improvement:g}"
                    )
        set_alias(mlflow, store, candidate.name, CHAMPION, candidate.version)
    return Promotion(candidate.name, candidate.version, chosen, value, current, previous_value)

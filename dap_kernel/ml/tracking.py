"""MLflow behind ``dap.ml``: where runs and models are kept, and the registry with aliases.

The store is local by default: ``DAP_HOME/mlflow/mlflow.db`` (SQLite) and
``DAP_HOME/mlflow/artifacts``, in a directory only its owner may open (0700) — a model file is
derived from governed data. ``DAP_MLFLOW_TRACKING_URI`` points DAP at a tracking server
instead (the same URI serves as the registry).

A run records parameters, cross-validated metrics, the ROC or residual plot, the model with a
signature built from the column types (never an input example: no governed row is copied into
the store), and tags naming the source query, the tables read with their Delta versions, and
the DAP user. A registered model carries its owner (``dap.owner``); versions get
``@challenger`` when registered, the first one ``@champion`` too. Who may register, promote and
use a model is decided in :mod:`.access`.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import Settings
from .errors import MLError, UnknownModel

if TYPE_CHECKING:
    from .data import ModelSession
    from .results import TrainedModel

OWNER_TAG = "dap.owner"
CHAMPION, CHALLENGER = "champion", "challenger"
# The pipeline is stored with skops (no pickle). skops loads only the types it is told to
# trust; a pipeline DAP fitted itself may hold these beyond skops' defaults: scikit-learn's and
# numpy's own, and DAP's column transformers (plain functions of :mod:`.features`).
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "dap_kernel.ml.features.")
_LOCK = threading.RLock()  # MLflow's fluent API keeps its tracking URI in process globals


@dataclass(frozen=True)
class Store:
    """Where MLflow keeps runs, models and the registry."""

    uri: str
    artifacts: Path | None = None  # local artifact directory (None for a tracking server)


def store_for(session: ModelSession | None = None) -> Store:
    """``DAP_MLFLOW_TRACKING_URI`` when set; otherwise the local store of the workspace the
    session runs in (an in-process session knows its workspace; any other caller uses this
    process's ``DAP_HOME``)."""
    configured = os.environ.get("DAP_MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return Store(configured)
    workspace = getattr(session, "workspace", None)
    settings = getattr(workspace, "settings", None)
    home = settings.home if isinstance(settings, Settings) else Settings.from_env().home
    root = Path(home) / "mlflow"
    artifacts = root / "artifacts"
    for folder in (root, artifacts):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    root.chmod(0o700)
    return Store(f"sqlite:///{root / 'mlflow.db'}", artifacts)


def mlflow_module() -> Any:
    """MLflow, imported on first use (never by ``import dap_kernel``), without telemetry."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import mlflow.sklearn

    return mlflow


@contextmanager
def active(store: Store) -> Iterator[Any]:
    """MLflow pointed at ``store`` for the block (one caller at a time), quietly: its
    warnings are about its own environment, not the user's work. The process's own MLflow
    URIs are put back afterwards."""
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow = mlflow_module()
        before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
        mlflow.set_tracking_uri(store.uri)
        mlflow.set_registry_uri(store.uri)
        try:
            yield mlflow
        finally:  # a notebook's own use of MLflow keeps its own store
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


def client(mlflow: Any, store: Store) -> Any:
    return mlflow.MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)


def owner_of(mlflow: Any, store: Store, name: str) -> str | None:
    """The owner of a registered model, or None when no model has that name."""
    try:
        model = client(mlflow, store).get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        return None
    return str(model.tags.get(OWNER_TAG, "")) or ""


def _experiment(mlflow: Any, store: Store, name: str | None) -> str:
    title = f"dap-{name}" if name else "dap"
    found = mlflow.get_experiment_by_name(title)
    if found is not None:
        return str(found.experiment_id)
    location = store.artifacts.as_uri() if store.artifacts else None
    return str(mlflow.create_experiment(title, artifact_location=location))


def signature(model: TrainedModel) -> Any:
    """Input and output schema from the column types alone (no input example)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec(kind, column) for column, kind in model.features.types])
    if model.task == "classification":
        output = ColSpec("string", "prediction")
    else:
        output = ColSpec("double", "prediction")
    return ModelSignature(inputs=inputs, outputs=Schema([output]))


def trusted_types(pipeline: Any) -> list[str]:
    """The types beyond skops' defaults that the fitted pipeline holds, all of them from
    :data:`TRUSTED_PREFIXES` (anything else is refused: it did not come from DAP's pipeline)."""
    import skops.io

    found = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))
    foreign = [t for t in found if not t.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise MLError(f"the fitted pipeline holds types DAP does not store: {', '.join(foreign)}")
    return found


def log_training(model: TrainedModel, store: Store) -> tuple[str, str, int | None]:
    """Record a trained model as an MLflow run (and a registered version when it has a name):
    ``(run_id, model_uri, version)``."""
    import sklearn

    with active(store) as mlflow:
        experiment = _experiment(mlflow, store, model.name)
        tags = {
            "dap.user": model.user,
            "dap.source_sql": model.source_sql[:4000],
            "dap.tables": ",".join(model.tables),
            "dap.table_versions": json.dumps(dict(model.versions), sort_keys=True),
            "dap.target": model.target,
            "dap.task": model.task,
        }
        with mlflow.start_run(experiment_id=experiment, tags=tags) as run:
            mlflow.log_params(
                {
                    "model": model.model,
                    "task": model.task,
                    "target": model.target,
                    "cv": model.cv,
                    "rows": model.rows,
                    "numeric": ",".join(model.features.numeric)[:500],
                    "categorical": ",".join(model.features.categorical)[:500],
                    "dates": ",".join(model.features.dates)[:500],
                }
            )
            metrics = {f"cv_{m.name}": m.mean for m in model.metrics}
            metrics |= {f"cv_{m.name}_std": m.std for m in model.metrics}
            mlflow.log_metrics(metrics)
            mlflow.log_figure(model.plot(), "plot.html")
            mlflow.log_dict(
                {
                    "source_sql": model.source_sql,
                    "tables": dict(model.versions) or list(model.tables),
                    "features": [list(t) for t in model.features.types],
                    "dropped": [list(d) for d in model.features.dropped],
                    "classes": list(model.classes),
                },
                "dap_training.json",
            )
            info = mlflow.sklearn.log_model(
                model.pipeline,
                name="model",
                signature=signature(model),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=trusted_types(model.pipeline),
                registered_model_name=model.name,
            )
        version = info.registered_model_version
        if model.name and version is not None:
            _tag_version(mlflow, store, model, int(version))
        return str(run.info.run_id), str(info.model_uri), None if version is None else int(version)


def _tag_version(mlflow: Any, store: Store, model: TrainedModel, version: int) -> None:
    registry = client(mlflow, store)
    assert model.name is not None
    if not owner_of(mlflow, store, model.name):
        registry.set_registered_model_tag(model.name, OWNER_TAG, model.user)
    tags = {
        "dap.task": model.task,
        "dap.target": model.target,
        "dap.primary_metric": model.primary_metric,
        "dap.features": json.dumps([list(t) for t in model.features.types]),
        "dap.classes": json.dumps(list(model.classes)),
        "dap.user": model.user,
    }
    for key, value in tags.items():
        registry.set_model_version_tag(model.name, str(version), key, value)


def aliases(mlflow: Any, store: Store, name: str) -> dict[str, int]:
    """Alias → version of a registered model."""
    found = client(mlflow, store).get_registered_model(name)
    return {alias: int(version) for alias, version in (found.aliases or {}).items()}


def set_alias(mlflow: Any, store: Store, name: str, alias: str, version: int) -> None:
    client(mlflow, store).set_registered_model_alias(name, alias, str(version))


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as ``dap.ml`` uses it: what it needs and how it scored."""

    name: str
    version: int
    run_id: str
    task: str
    target: str
    primary_metric: str
    features: tuple[tuple[str, str], ...]
    classes: tuple[str, ...]
    metrics: dict[str, float]
    source_sql: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.features)


def version_info(mlflow: Any, store: Store, name: str, selector: str) -> VersionInfo:
    """A version by number (``"3"``) or alias (``"@champion"``); unknown → UnknownModel."""
    registry = client(mlflow, store)
    try:
        if selector.startswith("@"):
            found = registry.get_model_version_by_alias(name, selector[1:])
        else:
            found = registry.get_model_version(name, selector)
    except mlflow.exceptions.MlflowException:
        shown = selector if selector.startswith("@") else f"version {selector}"
        raise UnknownModel(f"model {name} has no {shown}") from None
    tags = found.tags or {}
    run = registry.get_run(found.run_id)
    return VersionInfo(
        name=name,
        version=int(found.version),
        run_id=str(found.run_id),
        task=str(tags.get("dap.task", "")),
        target=str(tags.get("dap.target", "")),
        primary_metric=str(tags.get("dap.primary_metric", "")),
        features=tuple((str(c), str(t)) for c, t in json.loads(tags.get("dap.features", "[]"))),
        classes=tuple(str(c) for c in json.loads(tags.get("dap.classes", "[]"))),
        metrics={k.removeprefix("cv_"): float(v) for k, v in run.data.metrics.items()},
        source_sql=str(run.data.tags.get("dap.source_sql", "")),
    )


_LOADED: dict[tuple[str, str, int], Any] = {}  # versions never change: load each once


def load_pipeline(mlflow: Any, store: Store, name: str, version: int) -> Any:
    key = (store.uri, name, version)
    if key not in _LOADED:
        if len(_LOADED) >= 16:
            _LOADED.pop(next(iter(_LOADED)))
        try:
            _LOADED[key] = mlflow.sklearn.load_model(f"models:/{name}/{version}")
        except mlflow.exceptions.MlflowException as e:
            raise MLError(f"model {name} version {version} could not be loaded: {e}") from None
    return _LOADED[key]

"""``dap.ml.train``: a scikit-learn pipeline fitted on the caller's governed rows.

The rows come from :mod:`.data` (governed SQL only), the preparation of each column from
:mod:`.features`; the task (classification or regression) is read from the target. Metrics are
cross-validated by hand, one fit per fold, so the out-of-fold predictions that give the metrics
also draw the ROC curve or residual histogram. The final pipeline is fitted on every row and,
unless ``track=False``, recorded in MLflow (:mod:`.registry`; registered when it has a name).

>>> model = dap.ml.train("customers", "churned", model="logistic", name="churn")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ..stats.errors import NotEnoughData
from .data import ModelSession, read, session_of
from .errors import MLError
from .features import FeatureSpec, plan, preprocessor, to_pandas
from .results import Curve, Metric, TrainedModel

if TYPE_CHECKING:
    from collections.abc import Sequence

CLASSIFIERS = ("logistic", "random_forest", "gradient_boosting")
REGRESSORS = ("linear", "ridge", "random_forest", "gradient_boosting")
MODELS = ("auto", *dict.fromkeys((*CLASSIFIERS, *REGRESSORS)))
MAX_CLASS_LEVELS = 10  # an integer target with at most this many values is a class label
CURVE_POINTS = 200


def infer_task(target: pl.Series) -> str:
    """Classification for labels (booleans, text, integers with few values), else regression."""
    dtype = target.dtype
    if dtype == pl.Boolean or not dtype.is_numeric():
        return "classification"
    if dtype.is_integer() and target.n_unique() <= MAX_CLASS_LEVELS:
        return "classification"
    return "regression"


def estimator(kind: str, task: str) -> Any:
    """The scikit-learn estimator behind a model name (``auto``: gradient boosting)."""
    if kind == "auto":
        kind = "gradient_boosting"
    allowed = CLASSIFIERS if task == "classification" else REGRESSORS
    if kind not in allowed:
        raise MLError(f"model {kind!r} does not fit a {task}: use one of {', '.join(allowed)}")
    if task == "classification":
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression

        if kind == "logistic":
            return LogisticRegression(max_iter=2000)
        if kind == "random_forest":
            return RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
        return HistGradientBoostingClassifier(random_state=0)
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LinearRegression, Ridge

    if kind == "linear":
        return LinearRegression()
    if kind == "ridge":
        return Ridge(alpha=1.0)
    if kind == "random_forest":
        return RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1)
    return HistGradientBoostingRegressor(random_state=0)


def pipeline(spec: FeatureSpec, kind: str, task: str) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("prepare", preprocessor(spec)), ("model", estimator(kind, task))])


def train(
    source: str,
    target: str,
    *,
    model: str = "auto",
    name: str | None = None,
    cv: int = 5,
    features: Sequence[str] | None = None,
    task: str | None = None,
    track: bool = True,
    params: Mapping[str, Any] | None = None,
    session: ModelSession | None = None,
) -> TrainedModel:
    """Train ``model`` to predict ``target`` from the other columns of ``source`` (a table or
    a SELECT, read as the caller sees it) and report ``cv``-fold cross-validated metrics.

    ``name`` registers the model in MLflow's registry (a new version; needs ownership or MODIFY
    on ``model:NAME`` when the name exists). ``features`` picks the columns; ``task`` forces
    ``"classification"`` or ``"regression"``.
    """
    if model not in MODELS:
        raise MLError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")
    if not isinstance(cv, int) or isinstance(cv, bool) or cv < 2:
        raise MLError("cv is the number of folds: an integer of at least 2")
    governed = session_of(session)
    if name is not None:
        from .access import model_name
        from .registry import registry_of

        registry_of(governed).prepare(model_name(name))  # refused before any row is read
    data = read(source, governed, params)
    frame = data.frame
    if target not in frame.columns:
        raise MLError(f"the source has no column {target!r} to predict")
    frame = frame.filter(pl.col(target).is_not_null())
    chosen_task = task or infer_task(frame[target])
    if chosen_task not in ("classification", "regression"):
        raise MLError("task is 'classification' or 'regression'")
    spec = plan(frame, target, features)
    X = to_pandas(frame, spec.columns)
    kind = "gradient_boosting" if model == "auto" else model
    if chosen_task == "classification":
        y = np.asarray([str(v) for v in frame[target].to_list()], dtype=object)
        classes = tuple(sorted(set(y)))
        if len(classes) < 2:
            raise NotEnoughData(f"{target} has one value in these rows: nothing to learn")
        smallest = min(int((y == c).sum()) for c in classes)
        folds = min(cv, smallest)
        if folds < 2:
            raise NotEnoughData(f"a class of {target} has one row: too few to cross-validate")
    else:
        y = frame[target].cast(pl.Float64).to_numpy()
        classes = ()
        folds = min(cv, frame.height)
        if folds < 2:
            raise NotEnoughData("too few rows to cross-validate")
    estimator(kind, chosen_task)  # a model that does not fit the task fails before any fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and feature-name notes of scikit-learn
        metrics, curve = _cross_validate(spec, kind, chosen_task, X, y, classes, folds)
        fitted = pipeline(spec, kind, chosen_task).fit(X, y)
    trained = TrainedModel(
        target=target,
        task=chosen_task,
        model=kind,
        rows=frame.height,
        features=spec,
        metrics=metrics,
        curve=curve,
        source_sql=data.sql,
        tables=data.tables,
        versions=tuple(sorted(data.versions.items())),
        user=data.user,
        classes=classes,
        cv=folds,
        name=name,
        pipeline=fitted,
    )
    if not track:
        if name is not None:
            raise MLError("a named model is registered in MLflow: leave track=True")
        return trained
    from .registry import registry_of

    return registry_of(governed).record(trained)  # in process, or refused by the service


def _cross_validate(
    spec: FeatureSpec,
    kind: str,
    task: str,
    X: Any,
    y: Any,
    classes: tuple[str, ...],
    folds: int,
) -> tuple[tuple[Metric, ...], Curve]:
    """Metrics per fold (mean and sd) and the out-of-fold curve, one fit per fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter: Any
    if task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=0)
    scores: dict[str, list[float]] = {}
    out_of_fold: Any = (
        np.zeros((len(y), len(classes))) if task == "classification" else np.zeros(len(y))
    )
    for train_rows, test_rows in splitter.split(X, y):
        fitted = pipeline(spec, kind, task).fit(X.iloc[train_rows], y[train_rows])
        held_out = X.iloc[test_rows]
        if task == "classification":
            proba = _proba(fitted, held_out, classes)
            out_of_fold[test_rows] = proba
            fold = _classification_scores(y[test_rows], proba, classes)
        else:
            predicted = fitted.predict(held_out)
            out_of_fold[test_rows] = predicted
            fold = _regression_scores(y[test_rows], predicted)
        for metric, value in fold.items():
            scores.setdefault(metric, []).append(value)
    metrics = tuple(Metric(m, float(np.mean(v)), float(np.std(v))) for m, v in scores.items())
    if task == "classification":
        return metrics, _roc(y, out_of_fold, classes)
    residuals = y - out_of_fold
    counts, edges = np.histogram(residuals, bins=20)
    return metrics, Curve("residuals", tuple(map(float, edges)), tuple(map(float, counts)))


def _proba(fitted: Any, X: Any, classes: tuple[str, ...]) -> Any:
    """Probabilities in the order of ``classes`` (a fold may miss a rare class)."""
    raw = fitted.predict_proba(X)
    known = [str(c) for c in fitted.classes_]
    proba = np.zeros((len(X), len(classes)))
    for i, c in enumerate(known):
        proba[:, classes.index(c)] = raw[:, i]
    return proba


def _classification_scores(y: Any, proba: Any, classes: tuple[str, ...]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    scores = {"accuracy": float(accuracy_score(y, predicted))}
    present = sorted(set(y))
    if len(classes) == 2:
        positive = classes[1]
        if len(present) == 2:
            scores["roc_auc"] = float(roc_auc_score(y == positive, proba[:, 1]))
        scores["f1"] = float(f1_score(y, predicted, pos_label=positive, zero_division=0))
    else:
        if len(present) == len(classes):
            scores["roc_auc"] = float(
                roc_auc_score(y, proba, multi_class="ovr", labels=list(classes))
            )
        scores["f1"] = float(f1_score(y, predicted, average="macro", zero_division=0))
    return scores


def _regression_scores(y: Any, predicted: Any) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "mae": float(mean_absolute_error(y, predicted)),
        "r2": float(r2_score(y, predicted)),
    }


def _roc(y: Any, proba: Any, classes: tuple[str, ...]) -> Curve:
    """The out-of-fold ROC curve (one-vs-rest, pooled, for more than two classes)."""
    from sklearn.metrics import auc, roc_curve

    if len(classes) == 2:
        truth, score = (y == classes[1]), proba[:, 1]
    else:
        truth = np.stack([y == c for c in classes], axis=1).ravel()
        score = proba.ravel()
    fpr, tpr, _ = roc_curve(truth, score)
    area = float(auc(fpr, tpr))
    if len(fpr) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, CURVE_POINTS).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return Curve("roc", tuple(map(float, fpr)), tuple(map(float, tpr)), area)

"""An experiment's results in MLflow: ``dap.experiments.log_result(result)``.

The run goes to the store ``dap.ml`` uses (:mod:`dap_kernel.ml.tracking`: ``DAP_HOME/mlflow``, or
``DAP_MLFLOW_TRACKING_URI``), under the MLflow experiment ``ab/<name>``, so each analysis of an
A/B test is a run beside the others and the models trained on the same data. It holds what the
result holds — per-variant unit counts, means, lifts, intervals and p-values, the SRM check —
the result table as HTML and the forest plot; aggregates only, never a row, and tagged with the
analyst and the statements that computed them.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from ..ml.tracking import active, store_for
from .results import ExperimentResult, render_html

_KEY = re.compile(r"[^A-Za-z0-9_./ -]")


def _key(text: str) -> str:
    """An MLflow metric or parameter name (letters, digits and ``_-./ `` only)."""
    return _KEY.sub("_", text)[:200]


def log_result(result: ExperimentResult, *, session: Any = None, run_name: str = "") -> str:
    """Log ``result`` as one MLflow run; its run id."""
    store = store_for(session)
    user = str(session.whoami().get("user", "")) if session is not None else ""
    with active(store) as mlflow:
        name = f"ab/{result.experiment}"
        if mlflow.get_experiment_by_name(name) is None:
            location = store.artifacts.as_uri() if store.artifacts is not None else None
            mlflow.create_experiment(name, artifact_location=location and f"{location}/{name}")
        mlflow.set_experiment(name)
        with mlflow.start_run(run_name=run_name or None) as run:
            mlflow.log_params(
                {
                    "variants": ",".join(result.variants),
                    "expected_weights": ",".join(f"{w:g}" for w in result.expected_weights),
                    "alpha": result.alpha,
                    "correction": result.correction,
                }
            )
            figures: dict[str, float] = {"srm_pvalue": result.srm_pvalue}
            for variant, units in zip(result.variants, result.units, strict=True):
                figures[_key(f"units.{variant}")] = float(units)
            for m in result.metrics:
                base = _key(f"{m.metric}.{m.variant}")
                for field in ("lift", "difference", "pvalue", "adjusted_pvalue"):
                    figures[f"{base}.{field}"] = float(getattr(m, field))
                figures[f"{base}.lift_low"], figures[f"{base}.lift_high"] = map(float, m.lift_ci)
                figures[f"{base}.chance_to_beat_control"] = float(m.chance_to_beat_control)
                figures[f"{base}.treatment_mean"] = float(m.treatment_mean)
                figures[f"{base}.control_mean"] = float(m.control_mean)
            mlflow.log_metrics({k: v for k, v in figures.items() if v == v})  # NaN: not logged
            mlflow.set_tags(
                {
                    "dap.kind": "experiment_analysis",
                    "dap.user": user,
                    "dap.srm": str(result.srm),
                    "dap.sql": json.dumps(list(result.sql))[:5000],
                }
            )
            with tempfile.TemporaryDirectory() as tmp:
                page = Path(tmp) / "result.html"
                page.write_text(render_html(result), encoding="utf-8")
                plot = Path(tmp) / "forest_plot.html"
                plot.write_text(result.plot().to_html(include_plotlyjs="cdn"), encoding="utf-8")
                mlflow.log_artifacts(tmp)
            run_id: str = run.info.run_id
    return run_id

"""Online scoring (REST `models/{name}/predict`): rows in, predictions out, as the caller.

The caller needs ``SELECT`` on ``model:NAME`` (or to own the model) — decided in
:mod:`dap_kernel.ml.predict` like the batch door; the rows scored are the ones they send, so
nothing of the lake is read. ``dap_kernel.ml`` (and scikit-learn, MLflow) load on the first
call, not when the server starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..api import Call, router
from ..models import Request


class PredictRequest(Request):
    rows: list[dict[str, Any]] = Field(
        description="The rows to score, one object per row keyed by the model's columns."
    )
    alias: str | None = Field(default=None, description="An alias (default `champion`).")
    version: int | None = Field(default=None, ge=1, description="A version instead of an alias.")


class PredictResult(BaseModel):
    model: str
    version: int = Field(description="The version that scored the rows.")
    prediction: list[Any] = Field(description="One prediction per row, in order.")
    probability: list[float] | None = Field(
        default=None, description="Of the positive class, for a two-class model."
    )


@router.post(
    "models/{name}/predict",
    body=PredictRequest,
    response=PredictResult,
    pool="query",
    scope="query",
    tag="models",
    errors=(400, 403, 404),
)
def predict_model(call: Call, name: str, body: PredictRequest) -> PredictResult:
    """Score rows with a registered model (needs SELECT on `model:NAME`)."""
    from dap_kernel.ml.errors import MLError
    from dap_kernel.ml.predict import score_rows

    if body.alias is not None and body.version is not None:
        raise MLError("give an alias or a version, not both")
    if body.version is not None:
        reference = f"{name}/{body.version}"
    else:
        reference = f"{name}@{body.alias or 'champion'}"
    return PredictResult(**score_rows(reference, body.rows, call.session))

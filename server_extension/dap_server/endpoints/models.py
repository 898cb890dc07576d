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


class AliasRequest(Request):
    version: int = Field(ge=1, description="The version the alias points at.")


class AliasResult(BaseModel):
    model: str
    alias: str
    version: int


@router.post(
    "models/{name}/aliases/{alias}",
    body=AliasRequest,
    response=AliasResult,
    pool="light",
    scope="admin",
    tag="models",
    errors=(400, 403, 404),
)
def set_model_alias(call: Call, name: str, alias: str, body: AliasRequest) -> AliasResult:
    """Point `NAME@ALIAS` at a version (needs MODIFY on `model:NAME` or ownership; audited).
    `@champion` is set by `promote` only."""
    from dap_kernel.ml.registry import set_alias_of

    set_alias_of(call.session, name, alias, body.version)
    return AliasResult(model=name, alias=alias, version=body.version)


class PromoteRequest(Request):
    version: int = Field(ge=1, description="The version to make `@champion`.")
    metric: str | None = Field(
        default=None, description="The metric compared (default: ROC AUC, or R² for regression)."
    )
    min_improvement: float = Field(
        default=0.0, ge=0, description="By how much it must beat the champion."
    )


class PromoteResult(BaseModel):
    name: str
    version: int
    metric: str
    value: float
    previous: int | None = Field(description="The champion before, if any.")
    previous_value: float | None


@router.post(
    "models/{name}/promote",
    body=PromoteRequest,
    response=PromoteResult,
    pool="light",
    scope="admin",
    tag="models",
    errors=(400, 403, 404, 409),
)
def promote_model(call: Call, name: str, body: PromoteRequest) -> PromoteResult:
    """Make a version `@champion` if its metric beats the champion's by more than
    `min_improvement` (409 otherwise); needs MODIFY on `model:NAME` or ownership; audited."""
    import dataclasses

    from dap_kernel.ml.registry import promote_version

    done = promote_version(
        call.session,
        name,
        body.version,
        metric=body.metric,
        min_improvement=body.min_improvement,
    )
    return PromoteResult(**dataclasses.asdict(done))

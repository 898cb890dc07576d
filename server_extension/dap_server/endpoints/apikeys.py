"""API keys of the caller (or of anyone, for managers). Managing keys with a key needs the
key's ``admin`` scope, so a leaked query key cannot mint itself a stronger one. Who may manage
whose keys is decided in the core (:class:`dap_kernel.governance.apikeys.KeyAdmin`), the same
rule as ``dap apikey``."""

from __future__ import annotations

from dap_kernel.governance.apikeys import ApiKeyInfo, KeyAdmin

from ..api import Call, router
from ..models import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut


def _out(info: ApiKeyInfo) -> ApiKeyOut:
    return ApiKeyOut(
        key_id=info.key_id,
        name=info.name,
        user=info.principal,
        scopes=info.scopes,
        state=info.state,  # type: ignore[arg-type]
        created_at=info.created_at,
        expires_at=info.expires_at,
        last_used_at=info.last_used_at,
        rate_limit_per_min=info.rate_limit_per_min,
    )


def _admin(call: Call) -> KeyAdmin:
    ws = call.workspace
    return KeyAdmin(ws.apikeys, ws.policy, call.principal, audit=ws.audit, channel=call.channel)


@router.get("apikeys", response=ApiKeyList, scope="admin", tag="apikeys")
def list_keys(call: Call) -> ApiKeyList:
    """Your keys (managers: everyone's). Secrets are never shown again."""
    return ApiKeyList(keys=[_out(k) for k in _admin(call).list()])


@router.post(
    "apikeys",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
    scope="admin",
    tag="apikeys",
    errors=(400, 403),
)
def create_key(call: Call, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key; the response holds the only copy of its secret."""
    info, token = _admin(call).create(
        body.user,
        body.name,
        scopes=list(body.scopes),
        expires_in_days=body.expires_in_days,
        rate_limit_per_min=body.rate_limit_per_min,
    )
    return ApiKeyCreated(**_out(info).model_dump(), token=token)


@router.delete("apikeys/{key_id}", response=ApiKeyOut, scope="admin", tag="apikeys", errors=(404,))
def revoke_key(call: Call, key_id: str) -> ApiKeyOut:
    """Revoke a key at once. Someone else's key is reported as unknown."""
    return _out(_admin(call).revoke(key_id))

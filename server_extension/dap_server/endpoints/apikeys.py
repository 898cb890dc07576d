"""API keys of the caller (or of anyone, for managers). Managing keys with a key needs the
key's ``admin`` scope, so a leaked query key cannot mint itself a stronger one."""

from __future__ import annotations

from dap_kernel.errors import QueryRefused
from dap_kernel.governance.apikeys import ApiKeyInfo

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
    )


def _is_manager(call: Call) -> bool:
    return call.session.check("MANAGE_GRANTS", "*").allowed


@router.get("apikeys", response=ApiKeyList, scope="admin", tag="apikeys")
def list_keys(call: Call) -> ApiKeyList:
    """Your keys (managers: everyone's). Secrets are never shown again."""
    user = None if _is_manager(call) else call.principal.name
    return ApiKeyList(keys=[_out(k) for k in call.workspace.apikeys.list_keys(user)])


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
    owner = body.user or call.principal.name
    if owner != call.principal.name and not _is_manager(call):
        raise QueryRefused("only managers (MANAGE_GRANTS) may create keys for other users")
    info, token = call.workspace.apikeys.create(
        owner, body.name, scopes=list(body.scopes), expires_in_days=body.expires_in_days
    )
    return ApiKeyCreated(**_out(info).model_dump(), token=token)


@router.delete("apikeys/{key_id}", response=ApiKeyOut, scope="admin", tag="apikeys", errors=(404,))
def revoke_key(call: Call, key_id: str) -> ApiKeyOut:
    """Revoke a key at once. Someone else's key is reported as unknown."""
    keys = call.workspace.apikeys
    mine = {k.key_id for k in keys.list_keys(None if _is_manager(call) else call.principal.name)}
    if key_id not in mine:
        raise UnknownKey(f"no API key {key_id} of yours")
    return _out(keys.revoke(key_id))


class UnknownKey(QueryRefused):
    code = "unknown_api_key"
    http_status = 404

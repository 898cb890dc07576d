"""The OpenAPI 3.1 document, generated from the route table and its pydantic models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import dap_kernel

from .api import Endpoint, Router, full_path, router
from .models import ErrorBody, Health

_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    400: "Bad request: invalid input or SQL",
    401: "No identity, or an invalid, expired or revoked key",
    403: "Not allowed",
    404: "Not found",
    408: "The query ran past its time limit",
    409: "Conflict (cancelled, already exists)",
    429: "Too many queries at once, or too many requests a minute (see Retry-After)",
    500: "Server error (details only in the server log)",
    503: "Not ready, or shutting down (see Retry-After)",
}


Refs = Mapping[tuple[Any, Any], dict[str, Any]]


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in endpoint.path_params
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            params.append(param)
    return params


def _operation(endpoint: Endpoint, refs: Refs) -> dict[str, Any]:
    success: dict[str, Any] = {"description": endpoint.summary or "OK"}
    content: dict[str, Any] = {}
    if endpoint.response is not BaseModel:
        content["application/json"] = {"schema": refs[(endpoint.response, "serialization")]}
    for media in endpoint.alt_content:
        content[media] = {"schema": {"type": "string"}}
    if content:
        success["content"] = content
    error = {"content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}}
    statuses = set(endpoint.errors) | {400, 500}
    if not endpoint.public:
        statuses |= {401, 429}  # 429: the caller's rate limit (dap_kernel.ratelimit)
    if endpoint.pool == "query":
        statuses |= {503}  # a draining service admits no new query
    responses: dict[str, Any] = {str(endpoint.status): success}
    for status in sorted(statuses):
        if status == 503 and endpoint.response is Health:  # health answers its own model
            responses["503"] = {"description": _STATUS_TEXT[503], "content": success["content"]}
            continue
        responses[str(status)] = {"description": _STATUS_TEXT[status], **error}
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": responses,
    }
    doc = (endpoint.func.__doc__ or "").strip()
    if doc and doc != endpoint.summary:
        operation["description"] = " ".join(doc.split())
    parameters = _parameters(endpoint)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    operation["security"] = [] if endpoint.public else [{"apiKey": []}, {"jupyterToken": []}]
    if not endpoint.public:
        operation["x-dap-api-key-scope"] = endpoint.scope
    return operation


def document(table: Router = router, base_url: str = "/") -> dict[str, Any]:
    wanted: set[tuple[type[BaseModel], str]] = {(ErrorBody, "serialization")}
    for endpoint in table.endpoints:
        if endpoint.response is not BaseModel:
            wanted.add((endpoint.response, "serialization"))
        if endpoint.body is not None:
            wanted.add((endpoint.body, "validation"))
    refs, defs = models_json_schema(
        sorted(wanted, key=lambda item: (item[0].__name__, item[1])),  # type: ignore[arg-type]
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in table.endpoints:
        paths.setdefault(full_path(endpoint.path), {})[endpoint.method.lower()] = _operation(
            endpoint, refs
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DAP REST API",
            "version": dap_kernel.__version__,
            "description": "The governed core of DAP over HTTP: catalog, queries, access checks,"
            " audit, API keys, connectors and lineage. Every request but `health` needs an"
            ' identity; errors are `{"error": code, "message": text}`.',
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A DAP API key (`dap apikey create`): `Bearer dap_…`.",
                },
                "jupyterToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <Jupyter or JupyterHub token>`.",
                },
            },
        },
    }


@cache
def document_json(base_url: str = "/") -> bytes:
    return json.dumps(document(router, base_url)).encode()

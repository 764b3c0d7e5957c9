"""App routes (``/v1/apps``): list the registered apps and run one. Thin: the registry and the app's
context come from ``api.deps``; validation, running and the output check are the app's own
(``App.invoke``).

* ``GET  /v1/apps``: ``{"object": "list", "data": [{id, title, description, input_schema, output_schema}]}``
* ``GET  /v1/apps/{app_id}``: one of those
* ``POST /v1/apps/{app_id}`` with the app's ``Input`` as the JSON body: the app's ``Output`` as JSON.
  400 names the field at fault; 404 lists the known app ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from hkllm.api.deps import AppContextDep, AppRegistryDep, require_api_key

router = APIRouter(prefix="/v1/apps", tags=["apps"], dependencies=[Depends(require_api_key)])


@router.get("")
def list_apps(registry: AppRegistryDep) -> dict[str, Any]:
    return {"object": "list", "data": [app.describe() for app in registry.all()]}


@router.get("/{app_id}")
def describe_app(app_id: str, registry: AppRegistryDep) -> dict[str, Any]:
    return registry.get(app_id).describe()


@router.post("/{app_id}")
async def run_app(app_id: str, body: Annotated[dict[str, Any], Body()], registry: AppRegistryDep,
                  ctx: AppContextDep) -> dict[str, Any]:
    output: BaseModel = await registry.get(app_id).invoke(body, ctx)
    return output.model_dump(mode="json")

"""The API's reference: a complete OpenAPI schema for both of its doors (FastAPI's `/openapi.json` and BentoML's
`/docs.json`), and a `/docs` page that works offline.

`/score` decodes its own body (see `validation.decode_leads`), so no route parameter declares `ScoreRequest`
and neither schema generator would list it; its schema is written inline into the route instead, refs
resolved, so every schema built from the routes carries it. The Swagger UI assets are the ones BentoML
ships (the service's own pinned dependency), served by this app: a browser without internet (or behind a
proxy that blocks CDNs) still gets a working page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bentoml._internal import server as bentoml_server
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

ASSETS = Path(bentoml_server.__file__).parent / "static_content"
"""Swagger UI's bundle, preset and stylesheet as BentoML ships them."""
ASSETS_PATH = "/docs/assets"


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every `$ref` replaced by the definition it names (no `$defs` left)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: the body's schema, inline."""
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}
    }


def mount_docs(app: FastAPI) -> None:
    """`/docs` (create the app with `docs_url=None`) with its assets served here, reading `/openapi.json`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-light-32x32.png",
        )

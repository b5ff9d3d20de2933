"""Swagger UI at ``/docs``, its assets served by the gateway rather than a CDN."""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.edge.paths import DOCS, OPENAPI, STATIC

SWAGGER_UI = f"{STATIC}/vendor/swagger-ui-dist@5.35.0"

router = APIRouter(include_in_schema=False)


@router.get(DOCS)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI}",
        title="codedeploy-gateway",
        swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
    )

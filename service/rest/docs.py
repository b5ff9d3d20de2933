"""Swagger UI at ``/docs`` and the status board at ``/board``, their assets served by the
gateway rather than a CDN."""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.edge.paths import BOARD, DOCS, OPENAPI, STATIC

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


BOARD_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deployments - codedeploy-gateway</title>
<link rel="stylesheet" href="{root}{static}/board/board.css">
</head>
<body>
<h1>Deployments</h1>
<p id="announce" class="visually-hidden" aria-live="polite"></p>
<main id="board" data-auth="{auth}">Loading...</main>
<script src="{root}{static}/board/board.js" defer></script>
</body>
</html>
"""


def board_router(auth: bool) -> APIRouter:
    """The board: the gateway's own page, not documentation, so served whatever GATEWAY_DOCS
    says. ``auth``: the page asks for a key before its first read, not after a 401."""
    router = APIRouter(include_in_schema=False)

    @router.get(BOARD)
    async def board(request: Request) -> HTMLResponse:
        """Applications, their groups and deployments, live: the gateway's own files."""
        root = request.scope.get("root_path", "")
        page = BOARD_PAGE.format(root=root, static=STATIC, auth="required" if auth else "none")
        return HTMLResponse(page)

    return router

"""Every path and prefix the gateway answers, named once for the routes and the edge."""

from starlette.types import Scope

API = "/v1"
ACCOUNT_API = API + "/accounts/{account}/regions/{region}"
GRAPHQL = "/graphql"
DOCS = "/docs"
OPENAPI = "/openapi.json"
STATIC = "/static"
BOARD = "/board"
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
# An operator's routes (webhooks' dead letters): the metrics key when there is one.
OPERATIONS = "/operations"

PROBES = frozenset({HEALTHZ, READYZ})
# Pages a browser renders (Swagger UI, GraphiQL) and the files they load: they get the
# policy that lets them run.
PAGES = (DOCS, GRAPHQL, STATIC + "/")
# Open to anyone: what a browser needs before anyone can press "Authorize" (or give the
# board a key). GraphiQL's page (GET /graphql with no parameters) is open too; every query
# is not, nor is any of the board's reads.
PUBLIC = (DOCS, OPENAPI, STATIC + "/", BOARD)


def path_of(scope: Scope) -> str:
    """The path below the gateway's mount point (``root_path``, behind a proxy)."""
    path: str = scope["path"]
    return path[len(scope.get("root_path", "")) :]

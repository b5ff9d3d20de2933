"""How an error is answered before routing: the factory hands the edge a renderer that
answers in the shape each face's clients read (the edge knows neither face)."""

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Scope

from service.errors import GatewayError

Refuse = Callable[[Scope, GatewayError], Response]

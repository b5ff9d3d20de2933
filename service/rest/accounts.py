"""The accounts a caller may read: where a frontend showing a whole estate starts."""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from service.edge.paths import API
from service.errors import ErrorCode
from service.reads import Resolvers
from service.request import context_of
from service.rest.problems import problem_responses

router = APIRouter(prefix=API, tags=["accounts"])


class AccountInfo(BaseModel):
    account: str = Field(
        description="Its alias: what /v1/accounts/{account}/… and GraphQL's account take."
    )
    regions: list[str] = Field(description="The regions it is read in, its default first.")
    default: bool = Field(
        description="Whether the /v1 routes, and GraphQL fields without account, read it."
    )


class ListAccountsOutput(BaseModel):
    accounts: list[AccountInfo]


@router.get(
    "/accounts",
    operation_id="ListAccounts",
    summary="List the accounts this caller may read",
    description=(
        "The accounts and regions the gateway reads (GATEWAY_ACCOUNTS_FILE) that this "
        "caller is granted, from the gateway's configuration: no call to AWS. Never a role "
        "ARN or an account id."
    ),
    response_model=ListAccountsOutput,
    responses=problem_responses(
        429, examples={429: (ErrorCode.RATE_LIMITED, "This caller is over its rate limit.")}
    ),
)
async def list_accounts(request: Request, response: Response) -> ListAccountsOutput:
    # Each caller's own list: no shared cache may keep it, whichever credential it came with.
    response.headers["Cache-Control"] = "private, max-age=60"
    response.headers["Vary"] = "Authorization, X-API-Key"
    resolvers: Resolvers = request.state.resolvers
    return ListAccountsOutput(
        accounts=[
            AccountInfo(account=alias, regions=regions, default=default)
            for alias, regions, default in resolvers.accounts.readable(
                context_of(request.scope).grants
            )
        ]
    )

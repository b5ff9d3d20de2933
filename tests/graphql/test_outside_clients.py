"""The GraphQL face through a client nobody here wrote: Python's `gql`, over its own
aiohttp transport, against `python -m service --local` on a real socket."""

from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError

from tests.support import FAILED

pytestmark = pytest.mark.processes

INSTANCE = gql(
    """
    query Instance($d: ID!, $i: ID!) {
      deploymentInstance(deploymentId: $d, instanceId: $i) {
        instanceId status lastUpdatedAt
        lifecycleEvents { lifecycleEventName status diagnostics { errorCode } }
      }
    }
    """
)
STATUS_PAGE = gql(
    """
    query Page($s: [InstanceStatus!]) {
      deployment(deploymentId: "d-EXAMPLE04") {
        status
        instances(first: 2, status: $s) { totalCount edges { node { instanceId } } }
      }
    }
    """
)


def request(document: GraphQLRequest, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


def client(local_gateway: str, *, with_schema: bool = True) -> Client:
    # With the schema from the gateway's own introspection, gql checks every document and
    # its variables before sending; without it, everything goes to the gateway as sent.
    transport = AIOHTTPTransport(url=f"{local_gateway}/graphql")
    return Client(transport=transport, fetch_schema_from_transport=with_schema)


async def test_gql_reads_an_instance_and_a_page(local_gateway: str) -> None:
    async with client(local_gateway) as session:
        found = await session.execute(request(INSTANCE, d=FAILED[0], i=FAILED[1]))
        page = await session.execute(request(STATUS_PAGE, s=["FAILED", "IN_PROGRESS"]))
    assert found["deploymentInstance"]["status"] == "FAILED"
    assert found["deploymentInstance"]["lastUpdatedAt"].endswith("Z")
    assert page["deployment"]["instances"]["totalCount"] == 4


async def test_gql_sees_field_errors_and_request_errors_as_graphql_errors(
    local_gateway: str,
) -> None:
    async with client(local_gateway, with_schema=False) as session:
        with pytest.raises(TransportQueryError) as missing:
            await session.execute(request(INSTANCE, d=FAILED[0], i="i-gone"))
        with pytest.raises(TransportQueryError) as bad_variable:
            await session.execute(request(STATUS_PAGE, s=["Failed"]))
    assert missing.value.errors is not None
    assert missing.value.errors[0]["extensions"]["code"] == "INSTANCE_NOT_FOUND"
    assert missing.value.data == {"deploymentInstance": None}
    assert bad_variable.value.errors is not None
    assert bad_variable.value.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"

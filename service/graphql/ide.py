"""GraphiQL at ``GET /graphql``: Strawberry's page, with assets that need no CDN."""

import json
from functools import cache

from strawberry.http.ides import get_graphql_ide_html

from service.edge.paths import STATIC

CDN = "https://unpkg.com/"
VENDOR_PATH = f"{STATIC}/vendor/"

EXAMPLE_QUERY = """\
# Three examples: the run button asks which (Ctrl-Enter runs the one
# under the cursor). Gateway wants credentials? Under Headers below,
# add {"Authorization": "Bearer <API key or token>"}
#
# The demo deployment's failed instance (make run serves it). Also try
# instanceId i-0a1b2c3d4e5f60003 (in progress), or d-EXAMPLE02 with
# i-0c1d2e3f4a5b60001 (blue/green).
query FailedInstance {
  deploymentInstance(
    deploymentId: "d-EXAMPLE01"
    instanceId: "i-0a1b2c3d4e5f60002"
  ) {
    instanceId
    status
    lastUpdatedAt
    instanceType
    lifecycleEvents {
      lifecycleEventName
      status
      startTime
      endTime
      diagnostics { errorCode scriptName message logTail }
    }
  }
}

# A status board: every application's groups, each with its last
# deployment and that deployment's failed instances. The firsts keep
# it within the cost limit: 39 CodeDeploy calls at most, cold.
query StatusBoard {
  applications(first: 6) {
    edges {
      node {
        applicationName
        deploymentGroups(first: 2) {
          edges {
            node {
              deploymentGroupName
              lastAttemptedDeployment {
                deploymentId
                status
                completeTime
                instances(status: [FAILED], first: 5) {
                  edges { node { instanceId status } }
                }
              }
            }
          }
        }
      }
    }
  }
}

# d-EXAMPLE07 rolls over four instances in about a minute, then rests
# and starts again: its changes, live, until it finishes.
subscription LiveDeployment {
  deploymentEvents(deploymentId: "d-EXAMPLE07") {
    __typename
    ... on DeploymentChanged {
      eventId
      deployment { status deploymentOverview { pending inProgress succeeded failed } }
    }
    ... on InstanceChanged {
      eventId
      instance {
        instanceId
        status
        lifecycleEvents { lifecycleEventName status }
      }
    }
  }
}
"""


@cache
def graphiql_html(root_path: str) -> str:
    """Strawberry's own page with its assets served by the gateway.

    The files are byte-identical to the CDN's, so the page's SRI hashes still hold.
    """
    html = get_graphql_ide_html("graphiql").replace(CDN, root_path + VENDOR_PATH)
    start = html.index("const EXAMPLE_QUERY = `") + len("const EXAMPLE_QUERY = ")
    end = html.index("`;", start) + 1
    # A JSON string is a valid JavaScript string literal.
    html = html[:start] + json.dumps(EXAMPLE_QUERY) + html[end:]
    fetcher = html.index("const fetcher = GraphiQL.createFetcher(")
    after = html.index("});", fetcher) + len("});")
    created = html[fetcher:after].replace("const fetcher", "const sendToGateway")
    return html[:fetcher] + created + CURRENT_OPERATION_ONLY + html[after:]


# GraphiQL can keep sending the name of an operation its editor no longer holds (the
# example's, once a person replaces it with an anonymous query of their own), which the
# gateway rightly refuses as an unknown operation: the page sends no name then.
# A subscription goes over graphql-transport-ws, where a browser cannot set headers:
# the Headers editor's go in connection_init's payload, where the gateway reads them.
CURRENT_OPERATION_ONLY = r"""
      const fetcher = function (params, options) {
        const name = params.operationName;
        const named = new RegExp("\\b(query|mutation|subscription)\\s+" + name + "\\b");
        if (name && !named.test(params.query)) {
          params = Object.assign({}, params, { operationName: null });
        }
        const headers = (options && options.headers) || {};
        if (Object.keys(headers).length === 0) {
          return sendToGateway(params, options);
        }
        return GraphiQL.createFetcher({
          url: fetchURL,
          headers: defaultHeaders,
          subscriptionUrl,
          wsConnectionParams: headers,
        })(params, options);
      };"""

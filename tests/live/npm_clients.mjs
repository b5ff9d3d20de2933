// The GraphQL subscription through the npm clients frontends use: graphql-ws (WebSocket,
// graphql-transport-ws) or graphql-sse (server-sent events, distinct connections).
// Usage: node npm_clients.mjs <base url> <ws|sse> <deployment id> [API key]
// Prints the results as one JSON array once the subscription completes.
import { createClient as createWsClient } from "graphql-ws";
import { createClient as createSseClient } from "graphql-sse";
import WebSocket from "ws";

const [base, transport, deploymentId, apiKey] = process.argv.slice(2);
const credentials = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
const client =
  transport === "ws"
    ? createWsClient({
        url: base.replace(/^http/, "ws") + "/graphql",
        webSocketImpl: WebSocket,
        connectionParams: credentials,
        retryAttempts: 0, // a refusal is the answer here, not a reason to retry
      })
    : createSseClient({ url: base + "/graphql", headers: credentials, retryAttempts: 0 });
const query = `subscription ($d: ID!) {
  deploymentEvents(deploymentId: $d) {
    __typename
    ... on DeploymentChanged { eventId deployment { status } }
    ... on InstanceChanged { eventId instance { instanceId status } }
  }
}`;
const results = [];
try {
  for await (const result of client.iterate({ query, variables: { d: deploymentId } })) {
    results.push(result);
  }
  console.log(JSON.stringify(results));
} catch (error) {
  console.log(JSON.stringify({ error: error instanceof Error ? error.message : error }));
} finally {
  client.dispose();
}

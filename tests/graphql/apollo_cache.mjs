// Apollo Client's normalised cache against the gateway, as a frontend uses it: a query is
// cached, a subscription (graphql-ws) brings a change of one of its instances, and the
// cached query reads the new status without asking the gateway again.
// Usage: node apollo_cache.mjs <base url> <deployment id>
// Speaks one JSON line at a time on stdout; after {"subscribed": n} it waits for a line
// on stdin (the test changes CodeDeploy meanwhile), then prints {"result": {...}}.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const [base, deploymentId] = process.argv.slice(2);
const say = (message) => console.log(JSON.stringify(message));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

let fetches = 0;
const http = new HttpLink({
  uri: base + "/graphql",
  fetch: (...args) => {
    fetches += 1;
    return fetch(...args);
  },
});
const ws = new GraphQLWsLink(
  createClient({ url: base.replace(/^http/, "ws") + "/graphql", webSocketImpl: WebSocket, retryAttempts: 0 }),
);
const isSubscription = ({ query }) => {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
};
// No typePolicies, no keyFields: the cache finds each object's identity by itself.
const client = new ApolloClient({
  link: ApolloLink.split(isSubscription, ws, http),
  cache: new InMemoryCache(),
});

const PAGE = gql`
  query Page($d: ID!) {
    deployment(deploymentId: $d) {
      id
      status
      instances(first: 10) { edges { node { id instanceId status } } }
    }
  }
`;
const EVENTS = gql`
  subscription Events($d: ID!) {
    deploymentEvents(deploymentId: $d) {
      ... on DeploymentChanged { eventId deployment { id status } }
      ... on InstanceChanged { eventId instance { id instanceId status } }
    }
  }
`;
const variables = { d: deploymentId };

try {
  const { data } = await client.query({ query: PAGE, variables });
  const before = Object.fromEntries(
    data.deployment.instances.edges.map(({ node }) => [node.instanceId, node.status]),
  );
  const changed = new Promise((resolve, reject) => {
    let seen = 0;
    const subscription = client.subscribe({ query: EVENTS, variables }).subscribe({
      next: ({ data: event }) => {
        seen += 1;
        const instance = event?.deploymentEvents?.instance;
        if (seen === 1 + Object.keys(before).length) say({ subscribed: seen });
        if (instance && instance.status !== before[instance.instanceId]) {
          subscription.unsubscribe();
          resolve(instance);
        }
      },
      error: reject,
    });
  });
  await lines.next(); // the test changed CodeDeploy and told the gateway to look
  const instance = await changed;
  const cached = client.readQuery({ query: PAGE, variables });
  say({
    result: {
      before,
      event: instance,
      cached: cached.deployment.instances.edges.map(({ node }) => node),
      fetches,
      keys: Object.keys(client.cache.extract()),
    },
  });
} catch (error) {
  say({ error: error instanceof Error ? error.message : String(error) });
} finally {
  client.stop();
  process.exit(0);
}

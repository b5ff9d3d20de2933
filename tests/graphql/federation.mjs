// A supergraph as an organisation composes one: the gateway as a subgraph beside a tiny
// "releases" subgraph that extends Deployment with the commit a release came from, behind
// @apollo/gateway (IntrospectAndCompose reads each subgraph's _service { sdl }).
// Usage: node federation.mjs <gateway url> <API key> <queries.json>
// Prints {"results": [...]} (each operation's response body) or {"error": "..."}.
import { readFileSync } from "node:fs";
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import gql from "graphql-tag";

const [gatewayUrl, apiKey, queriesFile] = process.argv.slice(2);
const queries = JSON.parse(readFileSync(queriesFile, "utf8"));

const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Deployment @key(fields: "account region deploymentId") {
    account: String!
    region: String!
    deploymentId: ID!
    "The commit the deployed revision was built from."
    commit: String
  }

  type Release {
    version: String!
    deployment: Deployment!
  }

  type Query {
    release(version: String!): Release
    releases(count: Int!): [Release!]!
  }
`;
const withCommit = (ref) => ({ ...ref, commit: `c0ffee-${ref.deploymentId}` });
const at = (deploymentId) => withCommit({ account: "default", region: "us-east-1", deploymentId });
const resolvers = {
  Deployment: { __resolveReference: withCommit },
  Query: {
    release: (_, { version }) => ({ version, deployment: at("d-EXAMPLE01") }),
    releases: (_, { count }) =>
      Array.from({ length: count }, (_, n) => ({
        version: `1.${n}.0`,
        deployment: at(`d-${String(n).padStart(9, "0")}`),
      })),
  },
};
const releases = new ApolloServer({
  schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
  plugins: [ApolloServerPluginInlineTraceDisabled()], // its notice would go to stdout
});
const { url: releasesUrl } = await startStandaloneServer(releases, { listen: { port: 0 } });

const credentials = { "X-API-Key": apiKey };
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: "codedeploy", url: `${gatewayUrl}/graphql` },
      { name: "releases", url: releasesUrl },
    ],
    introspectionHeaders: credentials,
  }),
  // The router forwards the caller's credentials to the gateway, as a deployment would.
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request }) {
        for (const [name, value] of Object.entries(credentials)) request.http.headers.set(name, value);
      },
    }),
});
const server = new ApolloServer({ gateway });
try {
  await server.start();
  const results = [];
  for (const operation of queries) {
    const response = await server.executeOperation(operation);
    results.push(response.body.singleResult);
  }
  console.log(JSON.stringify({ results }));
} catch (error) {
  console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
} finally {
  await server.stop();
  await releases.stop();
}

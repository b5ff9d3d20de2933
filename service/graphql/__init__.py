"""The GraphQL face: schema, types and the ``/graphql`` router."""

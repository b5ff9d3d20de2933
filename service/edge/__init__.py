"""The edge: what a request meets before the resolver, from the connection in."""

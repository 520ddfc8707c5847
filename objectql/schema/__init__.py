"""GraphQL schema built at runtime from the registry."""

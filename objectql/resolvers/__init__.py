"""GraphQL query, mutation and subscription resolvers over the engine and the realtime core."""

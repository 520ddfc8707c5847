// @apollo/client: HttpLink (Node's fetch) for the query and the mutation, GraphQLWsLink for the subscription.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { MUTATION, QUERY, SUBSCRIPTION, deferred, emit, gate, main } from "./common.mjs";

function isSubscription({ query }) {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
}

function plain(record) {
  const { __typename, ...fields } = record;
  return fields;
}

await main("apollo", async ({ url, wsUrl, token, input }) => {
  let protocol = null;
  const wsClient = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    on: { connected: (socket) => (protocol = socket.protocol) },
  });
  const http = new HttpLink({ uri: url, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const client = new ApolloClient({
    link: ApolloLink.split(isSubscription, new GraphQLWsLink(wsClient), http),
    cache: new InMemoryCache(),
  });
  try {
    const queried = await client.query({ query: gql(QUERY), fetchPolicy: "no-cache" });
    const event = deferred();
    const subscription = client.subscribe({ query: gql(SUBSCRIPTION) }).subscribe({
      next: (result) => (result.error ? event.reject(result.error) : event.resolve(result.data)),
      error: event.reject,
      complete: () => event.reject(new Error("the subscription completed before any event")),
    });
    emit({ type: "subscribed" });
    await gate();
    const created = await client.mutate({ mutation: gql(MUTATION), variables: { input } });
    const received = await event.promise;
    subscription.unsubscribe();
    const change = received.ordersChanged;
    return {
      protocol,
      queried: queried.data.ordersList.map(plain),
      created: plain(created.data.createOrders),
      event: { ...plain(change), record: plain(change.record) },
    };
  } finally {
    client.stop();
    await wsClient.dispose();
  }
});

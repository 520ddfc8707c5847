// graphql-ws's createClient (subprotocol graphql-transport-ws) over the ws package: query, subscription, mutation.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { MUTATION, QUERY, SUBSCRIPTION, deferred, emit, gate, main } from "./common.mjs";

async function once(client, payload) {
  for await (const result of client.iterate(payload)) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data;
  }
  throw new Error("the operation completed without a result");
}

await main("graphql-ws", async ({ wsUrl, token, input }) => {
  let protocol = null;
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    on: { connected: (socket) => (protocol = socket.protocol) },
  });
  try {
    const queried = await once(client, { query: QUERY });
    const event = deferred();
    const unsubscribe = client.subscribe(
      { query: SUBSCRIPTION },
      {
        next: (result) => (result.errors ? event.reject(result.errors) : event.resolve(result.data)),
        error: event.reject,
        complete: () => event.reject(new Error("the subscription completed before any event")),
      },
    );
    emit({ type: "subscribed" });
    await gate();
    const created = await once(client, { query: MUTATION, variables: { input } });
    const received = await event.promise;
    unsubscribe();
    return {
      protocol,
      queried: queried.ordersList,
      created: created.createOrders,
      event: received.ordersChanged,
    };
  } finally {
    await client.dispose();
  }
});

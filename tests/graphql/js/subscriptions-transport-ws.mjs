// Apollo's legacy subscriptions-transport-ws SubscriptionClient (subprotocol graphql-ws) over the ws package.
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";

import { MUTATION, QUERY, SUBSCRIPTION, deferred, emit, gate, main } from "./common.mjs";

function once(client, request) {
  const result = deferred();
  const subscription = client.request(request).subscribe({
    next: (value) => (value.errors ? result.reject(value.errors) : result.resolve(value.data)),
    error: result.reject,
    complete: () => result.reject(new Error("the operation completed without a result")),
  });
  return result.promise.finally(() => subscription.unsubscribe());
}

await main("subscriptions-transport-ws", async ({ wsUrl, token, input }) => {
  const connected = deferred();
  const client = new SubscriptionClient(
    wsUrl,
    {
      reconnect: false,
      connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
      connectionCallback: (error) => (error ? connected.reject(error) : connected.resolve()),
    },
    WebSocket,
  );
  client.onError((error) => connected.reject(error));
  try {
    await connected.promise;
    const protocol = client.client.protocol;
    const queried = await once(client, { query: QUERY });
    const event = deferred();
    const subscription = client.request({ query: SUBSCRIPTION }).subscribe({
      next: (value) => (value.errors ? event.reject(value.errors) : event.resolve(value.data)),
      error: event.reject,
      complete: () => event.reject(new Error("the subscription completed before any event")),
    });
    emit({ type: "subscribed" });
    await gate();
    const created = await once(client, { query: MUTATION, variables: { input } });
    const received = await event.promise;
    subscription.unsubscribe();
    return {
      protocol,
      queried: queried.ordersList,
      created: created.createOrders,
      event: received.ordersChanged,
    };
  } finally {
    client.close();
  }
});

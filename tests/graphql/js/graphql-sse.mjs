// graphql-sse's createClient in distinct connections mode (one POST event stream per operation, Node's fetch).
import { createClient } from "graphql-sse";

import { MUTATION, QUERY, SUBSCRIPTION, deferred, emit, gate, main } from "./common.mjs";

async function once(client, payload) {
  for await (const result of client.iterate(payload)) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data;
  }
  throw new Error("the operation completed without a result");
}

await main("graphql-sse", async ({ url, token, input }) => {
  const client = createClient({
    url,
    singleConnection: false,
    retryAttempts: 0,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
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
      protocol: "graphql-sse",
      queried: queried.ordersList,
      created: created.createOrders,
      event: received.ordersChanged,
    };
  } finally {
    client.dispose();
  }
});

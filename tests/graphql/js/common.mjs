// What every client script shares: arguments, the three operations, the stdin gate and the JSON lines.
//
// A script prints {"type":"subscribed"} once its subscription is started, then waits for one line on stdin
// (or for stdin to end) before it mutates, so the test can first see the subscription held by the server.
// It ends with one {"type":"summary",...} line and exit code 0, or {"type":"error",...} and exit code 1;
// past --timeout-ms in all it prints an error line and exits 2.

import readline from "node:readline";
import { parseArgs } from "node:util";

export const QUERY = 'query { ordersList(orderBy: [{field: total}]) { id status total owner } }';
export const MUTATION =
  "mutation Create($input: OrdersInput!) { createOrders(input: $input) { id status total owner } }";
export const SUBSCRIPTION = "subscription { ordersChanged { seq action effect record { id status total owner } } }";

function options() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      token: { type: "string" },
      owner: { type: "string", default: "js" },
      total: { type: "string", default: "42" },
      "timeout-ms": { type: "string", default: "10000" },
    },
  });
  if (positionals.length !== 1) {
    throw new Error("usage: node SCRIPT http://HOST:PORT/graphql [--token JWT] [--owner NAME] [--total N]");
  }
  const url = positionals[0];
  return {
    url,
    wsUrl: url.replace(/^http/, "ws"),
    token: values.token,
    timeoutMs: Number(values["timeout-ms"]),
    input: { status: "paid", total: Number(values.total), owner: values.owner },
  };
}

export function emit(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

/** Resolves on the first line of stdin, or when stdin ends. */
export function gate() {
  return new Promise((resolve) => {
    const lines = readline.createInterface({ input: process.stdin });
    const done = () => {
      lines.close();
      resolve();
    };
    lines.once("line", done);
    lines.once("close", resolve);
  });
}

/** A promise with its resolve and reject in hand. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export function describe(error) {
  if (error instanceof Error) return error.stack || error.message;
  if (Array.isArray(error)) return JSON.stringify(error);
  if (error && typeof error === "object" && "code" in error) return `close ${error.code} ${error.reason ?? ""}`;
  return JSON.stringify(error) ?? String(error);
}

/** Run ``body(opts)`` and print its summary; every failure and the overall time limit end the process. */
export async function main(client, body) {
  let opts;
  try {
    opts = options();
  } catch (error) {
    emit({ type: "error", client, message: describe(error) });
    process.exit(1);
  }
  const timer = setTimeout(() => {
    emit({ type: "error", client, message: `timed out after ${opts.timeoutMs} ms` });
    process.exit(2);
  }, opts.timeoutMs);
  try {
    const summary = await body(opts);
    emit({ type: "summary", client, ...summary });
    clearTimeout(timer);
    process.exit(0);
  } catch (error) {
    emit({ type: "error", client, message: describe(error) });
    process.exit(1);
  }
}

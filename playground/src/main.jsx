// The GraphiQL playground served at GET /graphql. Everything it needs is in this bundle: it loads
// nothing from another origin, so it works on a machine without internet access.
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/graphiql.css";
import { parse } from "graphql";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./playground.css";

// The server writes an example of the app's own schema into the page; this one is for a page without it.
const FALLBACK_QUERY = `# ObjectQL GraphQL playground.
#
# To act as a user, put a token in the Headers pane below:
#   {"Authorization": "Bearer <token>"}
# It is sent as a header on every HTTP request and as the
# connection_init payload of subscriptions (graphql-transport-ws).
# Mint a development token with: objectql token --sub ID --roles a,b
#
# Run a subscription, then commit a change (here in another tab,
# or from any client) to see its events arrive on the right.

query {
  __typename
}
`;

const root = document.getElementById("graphiql");
const DEFAULT_QUERY = root.dataset.example || FALLBACK_QUERY;
// The server says where it answers GraphQL (the path this page was served at); the WebSocket
// endpoint is the same path on the same host, ws: or wss: like the page.
const endpoint = new URL(root.dataset.endpoint || "/graphql", window.location.href);
const socket = new URL(endpoint.href);
socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

// @graphiql/toolkit sends the Headers pane's JSON as HTTP request headers, and for a subscription
// opens a lazy graphql-ws client (graphql-transport-ws) whose connectionParams are those same
// headers, so {"Authorization": "Bearer …"} becomes the connection_init payload.
const toolkitFetcher = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: socket.href,
});

// The toolkit tells a subscription by the documentAST GraphiQL passes, which GraphiQL re-parses 100 ms
// after the last edit: a run right after typing would send a subscription over HTTP. Parse what is sent.
function fetcher(params, options) {
  let documentAST = options?.documentAST;
  try {
    documentAST = parse(params.query);
  } catch {
    // Not valid GraphQL: the server's error says why, whichever transport carries it.
  }
  return toolkitFetcher(params, { ...options, documentAST });
}

// GraphiQL keeps no headers in the browser's storage (shouldPersistHeaders is off) except in its history,
// whose entries carry the headers of each run. A token typed in the Headers pane must not outlive the tab,
// so this storage (GraphiQL's default, localStorage under "graphiql:") drops them from history entries.
const NAMESPACE = "graphiql:";
const HISTORY_KEYS = new Set([`${NAMESPACE}queries`, `${NAMESPACE}favorites`]);

function withoutHeaders(key, value) {
  if (!HISTORY_KEYS.has(key)) return value;
  try {
    const stored = JSON.parse(value);
    for (const entries of Object.values(stored)) {
      if (Array.isArray(entries)) for (const entry of entries) delete entry.headers;
    }
    return JSON.stringify(stored);
  } catch {
    return value;
  }
}

function ownKeys() {
  return Object.keys(localStorage).filter((key) => key.startsWith(NAMESPACE));
}

const storage = {
  getItem: (key) => localStorage.getItem(key),
  setItem: (key, value) => localStorage.setItem(key, withoutHeaders(key, value)),
  removeItem: (key) => localStorage.removeItem(key),
  clear: () => ownKeys().forEach((key) => localStorage.removeItem(key)),
  get length() {
    return ownKeys().length;
  },
};

createRoot(root).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      storage={storage}
      defaultQuery={DEFAULT_QUERY}
      defaultEditorToolsVisibility="headers"
    />
  </StrictMode>,
);

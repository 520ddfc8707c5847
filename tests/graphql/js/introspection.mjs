// Schema tooling's view of the server: graphql-js's standard introspection query, and the schema rebuilt
// from its answer.
//
//   node introspection.mjs query                       prints the query (every option on) as JSON
//   node introspection.mjs compare RESULT.json SDL.graphql
//       prints {"equal": bool, "client": SDL, "served": SDL}: buildClientSchema of the introspection
//       result against the served SDL, both sorted and printed by graphql-js.

import { readFileSync } from "node:fs";
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from "graphql";

const [mode, resultFile, sdlFile] = process.argv.slice(2);
if (mode === "query") {
  const query = getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  });
  console.log(JSON.stringify({ query }));
} else if (mode === "compare") {
  const result = JSON.parse(readFileSync(resultFile, "utf8"));
  const client = printSchema(lexicographicSortSchema(buildClientSchema(result.data)));
  const served = printSchema(lexicographicSortSchema(buildSchema(readFileSync(sdlFile, "utf8"))));
  console.log(JSON.stringify({ equal: client === served, client, served }));
} else {
  console.error("usage: node introspection.mjs query | compare RESULT.json SDL.graphql");
  process.exit(2);
}

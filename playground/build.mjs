// Bundles src/main.jsx (GraphiQL, React, graphql-ws and their CSS and fonts) into
// objectql/server/playground_bundle/ (package data: wheels and sdists carry it; never committed):
// one JS file, one CSS file and manifest.json naming them, which objectql/server/playground.py reads.
// File names carry a content hash, so a browser never mixes a cached old file with a new page.
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "..", "objectql", "server", "playground_bundle");

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { playground: "src/main.jsx" },
  outdir,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  jsx: "automatic",
  minify: true,
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
  // GraphiQL's CSS inlines its fonts as data: URLs; any other font or image it names is copied next to it.
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".svg": "file", ".png": "file" },
});

const manifest = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (output.entryPoint !== "src/main.jsx") continue;
  manifest.js = path.basename(file);
  if (output.cssBundle) manifest.css = path.basename(output.cssBundle);
}
if (!manifest.js || !manifest.css) {
  throw new Error(`the build produced no JS or CSS bundle: ${JSON.stringify(Object.keys(result.metafile.outputs))}`);
}
await writeFile(path.join(outdir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`playground built: ${path.relative(path.join(here, ".."), outdir)}/${manifest.js}, ${manifest.css}`);

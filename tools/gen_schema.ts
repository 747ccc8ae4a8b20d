/**
 * Writes `plugin.schema.json` at the repository root from the manifest's zod
 * schema. Run it after changing `host/manifest/`:
 *
 * ```sh
 * deno run --allow-write=plugin.schema.json tools/gen_schema.ts
 * ```
 *
 * `host/manifest/manifest_test.ts` fails while the committed file is stale.
 *
 * @module
 */

import { manifestJsonSchema } from "../host/manifest/mod.ts";

/** Where the schema is written: the repository root, whatever the working directory. */
const SCHEMA_URL: URL = new URL("../plugin.schema.json", import.meta.url);

/**
 * The file's text: two-space JSON with a final newline, as `deno fmt` keeps it.
 *
 * @returns The text of `plugin.schema.json`.
 *
 * @example Rendering the schema
 * ```ts
 * import { renderSchema } from "./gen_schema.ts";
 * import assert from "node:assert/strict";
 * assert.ok(renderSchema().endsWith("}\n"));
 * ```
 */
export function renderSchema(): string {
  return JSON.stringify(manifestJsonSchema(), null, 2) + "\n";
}

if (import.meta.main) {
  await Deno.writeTextFile(SCHEMA_URL, renderSchema());
  console.log(`Wrote ${SCHEMA_URL.pathname}`);
}

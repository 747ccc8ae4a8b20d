/**
 * Writes `plugin.schema.json` at the repository root from the manifest's zod
 * schema, and `hooks.schema.json` from the hook file's. Run it after changing
 * `host/manifest/` or `host/hookfiles/schema.ts`:
 *
 * ```sh
 * deno run --allow-write=plugin.schema.json,hooks.schema.json tools/gen_schema.ts
 * ```
 *
 * `host/manifest/manifest_test.ts` fails while the committed file is stale.
 *
 * @module
 */

import { manifestJsonSchema } from "../host/manifest/mod.ts";
import { hookFileJsonSchema } from "../host/hookfiles/schema.ts";

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

/** Where the hook file schema is written. */
const HOOKS_SCHEMA_URL: URL = new URL("../hooks.schema.json", import.meta.url);

if (import.meta.main) {
  await Deno.writeTextFile(SCHEMA_URL, renderSchema());
  console.log(`Wrote ${SCHEMA_URL.pathname}`);
  await Deno.writeTextFile(HOOKS_SCHEMA_URL, JSON.stringify(hookFileJsonSchema(), null, 2) + "\n");
  console.log(`Wrote ${HOOKS_SCHEMA_URL.pathname}`);
}

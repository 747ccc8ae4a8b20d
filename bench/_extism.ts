/**
 * The ASCII upper-casing filter as an Extism plugin (`bench/extism_upper.wasm`), run
 * through `@extism/extism`, for a side-by-side benchmark with our host.
 *
 * Permissions: read access to `bench/extism_upper.wasm`, and env access to
 * `EXTISM_ENABLE_WASI_OUTPUT` and `__MINIMATCH_TESTING_PLATFORM__`, which Extism's
 * module reads while it is being evaluated (so it is imported lazily, on the first
 * {@linkcode extismUpper}). `runInWorker: true` needs nothing more: Extism's worker
 * is a `data:` URL started with `node:worker_threads` (no `--allow-import`).
 *
 * @module
 */

import type { Plugin } from "@extism/extism";

/** The env variables `@extism/extism` reads at import time. */
export const EXTISM_ENV_VARS = ["EXTISM_ENABLE_WASI_OUTPUT", "__MINIMATCH_TESTING_PLATFORM__"];

const WASM = new URL("./extism_upper.wasm", import.meta.url);

/** One loaded Extism plugin exposing its `upper` export. */
export interface UpperCaller {
  /** Upper-cases the ASCII letters of `text` in the plugin, then resets its memory. */
  call(text: string): Promise<string>;
  /** Releases the plugin (and its worker, if any). */
  close(): Promise<void>;
}

/**
 * Loads `extism_upper.wasm` with Extism.
 *
 * @param runInWorker Run the Wasm on Extism's background worker thread.
 * @returns A caller for the plugin's `upper` export.
 */
export async function extismUpper(runInWorker: boolean): Promise<UpperCaller> {
  const { createPlugin } = await import("@extism/extism");
  const data = await Deno.readFile(WASM);
  let plugin: Plugin | null = await createPlugin({ wasm: [{ data }] }, {
    useWasi: false,
    runInWorker,
  });
  const decoder = new TextDecoder();
  return {
    async call(text: string): Promise<string> {
      if (plugin === null) throw new Error("extism plugin is closed");
      try {
        const out = await plugin.call("upper", text);
        return out === null ? "" : decoder.decode(out.bytes());
      } finally {
        // Extism's JS SDK keeps every call's input and output block until reset(): without
        // this, memory grows by both per call and, in a worker, each call gets slower as the
        // block table it walks on both threads grows.
        await plugin.reset();
      }
    },
    async close(): Promise<void> {
      const p = plugin;
      plugin = null;
      await p?.close();
    },
  };
}

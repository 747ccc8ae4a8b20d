/// <reference lib="deno.worker" />
/**
 * The worker that checks, meters and compiles a large module off the host's
 * thread (the host's own code; no plugin code runs here). It posts
 * `compiling` when the compile starts, so the host's deadline covers the
 * compile alone, then the outcome.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { checkAndMeter, notCompiling, type PrepareReply, type PrepareRequest } from "./_prepare.ts";

function reply(message: PrepareReply): void {
  self.postMessage(message);
}

self.onmessage = async (e: MessageEvent<PrepareRequest>) => {
  try {
    const { prepared, metered } = checkAndMeter(e.data);
    if (metered !== undefined) {
      reply({ type: "compiling" });
      try {
        prepared.module = await WebAssembly.compile(metered);
      } catch (cause) {
        throw notCompiling(e.data.plugin, cause);
      }
    }
    reply({ type: "done", prepared });
  } catch (error) {
    reply({
      type: "failed",
      error: error instanceof HookError ? error.toRecord() : { message: String(error) },
    });
  }
};

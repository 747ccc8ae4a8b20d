/// <reference lib="deno.worker" />
/**
 * The entry of a plugin's worker. It is started with
 * `deno: { permissions: "none" }`; it proves that on start (the isolation
 * self-test), receives the module compiled once on the host, instantiates it
 * with only the granted `env` imports, and serves calls one at a time.
 *
 * No remote import anywhere in this file or what it imports; the only
 * dynamic imports are the self-test's probes (a `data:` URL, and a file that
 * does not exist).
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { assertAbiVersion } from "../abi/module_check.ts";
import { Guest } from "./guest.ts";
import { closeGlobals, selfTest } from "./_isolation_probe.ts";
import type { CallMessage, InitMessage, LinkMessage, WorkerReply } from "../channel/protocol.ts";
import { hostImports, post, servicesPosted } from "./_host_imports.ts";
import { ChannelServer } from "../channel/worker_end.ts";
import { wasiImports } from "./_wasi.ts";

// Before anything else runs (and long before a guest is instantiated): no
// nested workers, no broadcast channel, no blob URLs. The self-test proves it.
closeGlobals();
const probes = selfTest();
let guest: Guest | undefined;
let server: ChannelServer | undefined;
void probes.then((isolation) => reply({ type: "booted", isolation }));

function reply(message: WorkerReply): void {
  self.postMessage(message);
}

function record(e: unknown): HookError {
  return e instanceof HookError
    ? e
    : new HookError("worker_crashed", `Worker failed: ${e instanceof Error ? e.message : e}`);
}

async function init(m: InitMessage): Promise<void> {
  const isolation = await probes;
  const allowed = Object.entries(isolation.probes).filter(([, v]) => v !== "denied");
  if (allowed.length > 0) {
    reply({
      type: "failed",
      isolation,
      error: new HookError(
        "isolation_unavailable",
        `Cannot start plugin "${m.plugin}": its worker is not isolated (${
          allowed.map(([k, v]) => `${k}: ${v}`).join(", ")
        })`,
        { plugin: m.plugin },
      ).toRecord(),
    });
    return;
  }
  const cancel = new Int32Array(m.cancel);
  abandoned = () => Atomics.load(cancel, 0) !== 0;
  try {
    const quota = { events: 0, eventBytes: 0, logs: 0 };
    const imports = hostImports(m, quota, abandoned);
    guest = new Guest(m.module, {
      plugin: m.plugin,
      maxPayloadBytes: m.maxPayloadBytes,
      maxResponseBytes: m.maxResponseBytes,
      fuel: m.fuel === undefined ? undefined : BigInt(m.fuel),
      importNames: m.importNames,
      imports,
      wasi: m.granted.includes("wasi") ? wasiImports(m, quota, post) : undefined,
      abandoned,
      beforeCall: () => {
        quota.events = 0;
        quota.logs = 0;
        quota.eventBytes = 0;
      },
    });
    if (m.checkAbiVersion) assertAbiVersion(guest.abiVersion(), m.plugin);
    if (m.channel !== undefined) {
      server = new ChannelServer({
        buffer: m.channel.buffer,
        spin: m.channel.spin,
        guest,
        messages: servicesPosted,
        post: (msg, transfer) => self.postMessage(msg, { transfer }),
        received: receivedEarly,
      });
    }
    reply({ type: "ready", isolation });
    serve();
  } catch (e) {
    reply({ type: "failed", isolation, error: record(e).toRecord() });
    leaveIfAbandoned();
  }
}

/** Messages received before the channel's server existed (it counts the rest). */
let receivedEarly = 0;

/** Whether the host gave up on this worker; set at init. */
let abandoned = (): boolean => false;

/**
 * Serves the channel until it yields or closes. Once the host has abandoned
 * the worker, the worker closes itself: Deno's `terminate()` completes only
 * when the worker's thread is back in its event loop.
 */
function serve(): void {
  server?.serve();
  leaveIfAbandoned();
}

function leaveIfAbandoned(): void {
  if (abandoned()) self.close();
}

function call(m: CallMessage): void {
  if (guest === undefined) {
    reply({
      type: "error",
      id: m.id,
      error: new HookError("closed", "Plugin is not initialised").toRecord(),
    });
    return;
  }
  try {
    const body = guest.callText(m.hook, m.payload);
    reply({ type: "done", id: m.id, body, fuel: guest.lastFuelUsed });
  } catch (e) {
    reply({ type: "error", id: m.id, error: record(e).toRecord(), fuel: guest.lastFuelUsed });
  }
}

self.onmessage = (e: MessageEvent<InitMessage | CallMessage | LinkMessage | { type: "crash" }>) => {
  const m = e.data;
  if (m.type !== "init") {
    if (server !== undefined) server.received();
    else receivedEarly++;
  }
  if (m.type === "call") {
    if (!abandoned()) call(m);
    serve();
  } else if (m.type === "link") {
    server?.link(m.id, m.buffer);
    serve();
  } else if (m.type === "init") void init(m);
  else if (m.type === "crash") {
    // Supervision tests: an uncaught exception, as a real worker failure would raise.
    throw new Error("Worker crash requested by the host");
  }
};

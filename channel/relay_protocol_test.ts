// The hand-off's ownership protocol, driven by hand against a real ChannelServer (no workers):
// a worker writes into the next channel only once it has taken the reservation its request names
// (`reserved` -> `filling`), publishes only when its own answer was published, and gives the
// reservation back otherwise; the host cannot take a reservation back under it. A getter on
// Object.prototype.toJSON stands for the host thread acting while the worker builds the request.
import assert from "node:assert/strict";
import { encodeEnvelope } from "../abi/envelope.ts";
import { HEADER_BYTES, Slot, SpinSlot, State } from "./layout.ts";
import { filterTailBytes } from "./relay.ts";
import { spinBudget } from "./spin.ts";
import { ChannelServer } from "./worker_end.ts";

const HOOK = "relay_edge";
const enc = new TextEncoder();

interface Pair {
  a: Int32Array;
  b: Int32Array;
  bufB: SharedArrayBuffer;
  server: ChannelServer;
  sp: Int32Array;
}

/** A's channel with a request that hands on to B, reserved with `reservation`; A's request names `names`. */
function pair(reservation: number, names: number): Pair {
  const spin = spinBudget();
  const sp = new Int32Array(spin);
  const bufA = new SharedArrayBuffer(HEADER_BYTES + 4096);
  const bufB = new SharedArrayBuffer(HEADER_BYTES + 4096);
  const a = new Int32Array(bufA, 0, HEADER_BYTES / 4);
  const b = new Int32Array(bufB, 0, HEADER_BYTES / 4);
  const name = enc.encode(HOOK);
  new Uint8Array(bufB, HEADER_BYTES).set(name);
  b[Slot.nameLen] = name.length;
  b[Slot.reservation] = reservation;
  Atomics.store(b, Slot.state, State.reserved);
  const payload = enc.encode(encodeEnvelope("filter", "x", []));
  const regionA = new Uint8Array(bufA, HEADER_BYTES);
  regionA.set(name);
  regionA.set(payload, name.length);
  a[Slot.nameLen] = name.length;
  a[Slot.payloadLen] = payload.length;
  a[Slot.forward] = 1;
  a[Slot.forwardCap] = 4096;
  a[Slot.forwardTail] = filterTailBytes([]);
  a[Slot.forwardToken] = names;
  Atomics.add(sp, SpinSlot.waiting, 1);
  Atomics.store(a, Slot.state, State.request);
  const server = new ChannelServer({
    buffer: bufA,
    spin,
    messages: () => 0,
    post: () => {},
    guest: {
      lastFuelUsed: undefined,
      // not a plain string: the request is built by JSON.stringify, which reads toJSON
      call: (_hook, _payload, read) => {
        Atomics.add(a, Slot.posted, 1); // a message for the worker: serve() leaves after this call
        return read(enc.encode('{"value":{"k":"v"}}')) as never;
      },
    },
  });
  server.link(1, bufB);
  return { a, b, bufB, server, sp };
}

/** Runs `during` once while the worker builds the next request. */
function whileBuilding(during: () => void, body: () => void): boolean {
  let fired = false;
  Object.defineProperty(Object.prototype, "toJSON", {
    configurable: true,
    get() {
      if (!fired) {
        fired = true;
        during();
      }
      return undefined;
    },
  });
  try {
    body();
  } finally {
    delete (Object.prototype as { toJSON?: unknown }).toJSON;
  }
  return fired;
}

Deno.test("relay protocol: the host cannot take a reservation back while the worker before writes into it; a call given up on gives it back", () => {
  const { a, b, server } = pair(7, 7);
  const fired = whileBuilding(() => {
    assert.equal(Atomics.load(b, Slot.state), State.filling);
    // unreserve(): neither `reserved` nor `request` -> it must wait
    assert.equal(Atomics.compareExchange(b, Slot.state, State.reserved, State.idle), State.filling);
    Atomics.store(a, Slot.state, State.closed); // the host gives up on A (terminate)
  }, () => server.serve());
  assert.ok(fired);
  // A's answer was not published, so nothing is handed on: B is reserved again, untouched
  assert.equal(Atomics.load(b, Slot.state), State.reserved);
  assert.equal(Atomics.compareExchange(b, Slot.state, State.reserved, State.idle), State.reserved);
});

Deno.test("relay protocol: a worker never publishes into a later reservation of the same channel", () => {
  // B was reserved for A (token 7), taken back and reserved again for another call (token 8)
  const { a, b, server } = pair(8, 7);
  server.serve();
  assert.equal(Atomics.load(a, Slot.state), State.response);
  assert.equal(a[Slot.forwarded], 0, "A says it handed on");
  assert.equal(Atomics.load(b, Slot.state), State.reserved);
  assert.equal(b[Slot.reservation], 8);
});

Deno.test("relay protocol: the request named by its reservation is published after the answer", () => {
  const { a, b, bufB, server, sp } = pair(7, 7);
  const waiting = Atomics.load(sp, SpinSlot.waiting);
  server.serve();
  assert.equal(Atomics.load(a, Slot.state), State.response);
  assert.equal(a[Slot.forwarded], 1);
  assert.equal(Atomics.load(b, Slot.state), State.request);
  const start = HEADER_BYTES + b[Slot.nameLen];
  const request = new TextDecoder().decode(
    new Uint8Array(bufB).slice(start, start + b[Slot.payloadLen]),
  );
  assert.equal(request, encodeEnvelope("filter", { k: "v" }, []));
  // A's request was taken off the waiting count, B's put on it
  assert.equal(Atomics.load(sp, SpinSlot.waiting), waiting);
  Atomics.sub(sp, SpinSlot.waiting, 1); // B's request, as if picked up
});

Deno.test("relay protocol: the worker's message count survives the i32 wrap of Slot.posted", () => {
  const buf = new SharedArrayBuffer(HEADER_BYTES + 1024);
  const c = new Int32Array(buf, 0, HEADER_BYTES / 4);
  const region = new Uint8Array(buf, HEADER_BYTES);
  let ran = 0;
  const server = new ChannelServer({
    buffer: buf,
    spin: spinBudget(),
    messages: () => 0,
    post: () => {},
    received: 0x7fff_ffff,
    guest: {
      lastFuelUsed: undefined,
      call: () => {
        ran++;
        Atomics.add(c, Slot.posted, 1); // the host posts a message meanwhile: serve() leaves after
        return null;
      },
    },
  });
  c[Slot.posted] = 0x7fff_ffff; // 2^31 − 1 messages so far, both sides agree
  Atomics.add(c, Slot.posted, 1); // one more: the host's count wraps
  server.received(); // and the worker's with it
  const name = enc.encode(HOOK);
  region.set(name);
  c[Slot.nameLen] = name.length;
  c[Slot.payloadLen] = 0;
  c[Slot.forward] = 0;
  const sp = new Int32Array(spinBudget());
  Atomics.add(sp, SpinSlot.waiting, 1);
  Atomics.store(c, Slot.state, State.request);
  server.serve();
  if (Atomics.load(c, Slot.state) === State.request) Atomics.sub(sp, SpinSlot.waiting, 1);
  assert.equal(ran, 1, "the worker never serves its channel again once Slot.posted wrapped");
});

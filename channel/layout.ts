/**
 * The layout of the shared memory between the host and one plugin worker:
 * the call channel and the state channel. Both sides import it; it uses no
 * Deno APIs. The messages that go beside it are in `protocol.ts`.
 *
 * One `SharedArrayBuffer` per worker: a header of i32 slots, then one data
 * region. A request is the hook name followed by the envelope; the worker
 * copies it into guest memory, then writes the answer over the same region.
 *
 * @module
 */

/** Bytes of the header. */
export const HEADER_BYTES = 96;

/** i32 slots of the header. */
export const Slot = {
  /** The exchange state, see {@linkcode State}. */
  state: 0,
  /** Bytes of the hook name at the start of the region. */
  nameLen: 1,
  /** Bytes of the envelope after the name. */
  payloadLen: 2,
  /** What the answer is, see {@linkcode Result}. */
  result: 3,
  /** Bytes of the answer at the start of the region. */
  bodyLen: 4,
  /** 1 while the worker is parked in `Atomics.wait` (the host must notify). */
  workerParked: 5,
  /** 1 while the host waits with `Atomics.waitAsync` (the worker must notify). */
  hostParked: 6,
  /** Service messages (log, event) the worker has posted so far. */
  messages: 7,
  /** Whether a fuel figure is present (1) in the i64 at {@linkcode FUEL_BYTE}. */
  hasFuel: 8,
  /** How long the worker took to serve the last request, in ns (capped at 2^31 − 1). */
  computeNs: 9,
  /**
   * What a parked exchange costs over a spun one, in ns, as the host measures
   * it: waking a parked thread. Spinning up to this long pays for itself.
   */
  wakeNs: 10,
  /**
   * The sequence number of the request in the region, written by the host
   * before it publishes the request; the worker tags whatever it posts for
   * that call (a body or error record too large for the region) with it, and
   * the host drops a message whose tag is not its current call's.
   */
  seq: 11,
  /**
   * Set by the host to say a call is coming (see {@linkcode Prewake}): a
   * parked worker wakes and spins for it, within the spinner budget, so the
   * call does not pay the wake-up (`PluginHost.prepare`, chains). Slots 12
   * and 13 hold the fuel figure.
   */
  prewake: 14,
  /** Prewakes the worker has served (woken by one, whether or not it then spun). */
  prewakes: 15,
  /**
   * The chain hand-off (`relay.ts`): the worker's link id of the channel
   * that takes this call's answer as its request, or 0. Written by the host
   * with the request.
   */
  forward: 16,
  /** The next plugin's payload cap, in bytes: a larger request is not forwarded. */
  forwardCap: 17,
  /** Bytes of the envelope's tail after the value (`,"args":[…]}`), which the next request repeats. */
  forwardTail: 18,
  /** Set by the worker with the answer: 1 when it published the next request. */
  forwarded: 19,
  /**
   * Messages the host has posted to the worker so far (counted before each
   * post). The worker leaves its serve loop while it has received fewer, so
   * that a second message posted while a yield is still pending is not left
   * waiting behind a parked loop.
   */
  posted: 20,
  /**
   * The token of the reservation that holds this channel (`reserved`), a
   * fresh number per reservation: a worker publishes into the channel only
   * when it is the token its own request names, never into a later
   * reservation of the same channel.
   */
  reservation: 21,
  /** The token of the next channel's reservation that this call's answer may go into. */
  forwardToken: 22,
} as const;

/**
 * Values of the {@linkcode Slot.prewake} slot. The host stores `sending`,
 * notifies, then moves it to `sent` once its notify returned. A worker woken
 * while it still reads `sending` has taken the host's own core (the kernel
 * ran the woken thread where the waker ran, preempting it): spinning there
 * would only keep the host from writing the call, so it parks again.
 */
export const Prewake = {
  /** No prewake pending. */
  none: 0,
  /** The host is notifying the worker. */
  sending: 1,
  /** The host's notify returned: the host runs on, on another core than the woken worker. */
  sent: 2,
} as const;

/** Byte offset of the i64 fuel used by the last call. */
export const FUEL_BYTE = 48;

/** Exchange states. */
export const State = {
  /** Nothing pending. */
  idle: 0,
  /** The host wrote a request. */
  request: 1,
  /** The worker wrote the answer. */
  response: 2,
  /** The host posted a message; the worker leaves its loop to receive it. */
  yield: 3,
  /**
   * The channel is closing; the worker leaves its loop for good. Only the host
   * writes it, and the worker never overwrites it: every state change the
   * worker makes is a compare-and-exchange from the state it expects.
   */
  closed: 4,
  /**
   * The worker picked the request up and runs it (`request` → `running`, a
   * compare-and-exchange: a request the host closed first is never run, and
   * exactly one side takes it off the process-wide `waiting` count).
   */
  running: 5,
  /**
   * Held for a chain hand-off: the host has written the hook name, and the
   * worker of the plugin before this one in the chain may publish the request
   * (`reserved` → `request`, a compare-and-exchange). The host takes a
   * reservation back the same way (`reserved` → `idle`), so a request can
   * never land in a channel the host no longer holds.
   */
  reserved: 6,
  /**
   * The worker of the plugin before has taken the reservation
   * (`reserved` → `filling`) and writes the request; it then publishes it
   * (`filling` → `request`) or, when its own call was given up on, gives the
   * reservation back (`filling` → `reserved`). The host waits for either
   * before it takes a reservation back.
   */
  filling: 7,
} as const;

/** Kinds of answer. */
export const Result = {
  /** A body of `bodyLen` bytes (UTF-8). */
  body: 0,
  /** No body. */
  none: 1,
  /** A `HookErrorRecord` as JSON text of `bodyLen` bytes. */
  error: 2,
  /** The body did not fit: it follows as a message. */
  message: 3,
  /** The `HookErrorRecord` did not fit: its JSON text follows as a message. */
  errorMessage: 4,
} as const;

/** Slots of the process-wide spinner budget, shared by every worker. */
export const SpinSlot = {
  /** Workers spinning right now. */
  spinning: 0,
  /** How many may spin at once (cores to spare). */
  limit: 1,
  /**
   * Requests written but not yet picked up by their worker, process-wide: no
   * worker spins while another waits to be woken (it would need the core).
   */
  waiting: 2,
  /**
   * Prewakes a worker spun for, process-wide (a count that only grows): a
   * prewake that found the host's core taken, or no spinner slot free, is
   * not one of them.
   */
  prewokenSpins: 3,
} as const;

/** Bytes before the data of a state channel: i32 slots. */
export const STATE_HEADER_BYTES = 32;

/**
 * Slots of a state channel's header; the data area holds the key, then the
 * value. `seq` is the request's sequence number, which the host copies into
 * `answered` with its answer: the worker takes only the answer to the request
 * it is waiting for.
 */
export const StateSlot = {
  state: 0,
  op: 1,
  keyLen: 2,
  valueLen: 3,
  status: 4,
  seq: 5,
  answered: 6,
} as const;

/** States of a state channel (the `state` slot). */
export const StateState = {
  /** No request pending. */
  idle: 0,
  /** The worker wrote a request and waits. */
  request: 1,
  /** The host wrote the answer (and copied the request's `seq`). */
  answered: 2,
} as const;

/** State operations. */
export const StateOp = { get: 1, set: 2, del: 3 } as const;

/**
 * The status of an answered `get` when it is not a negative status
 * (`abi/status.ts`): whether the key was there.
 */
export const StateFound = {
  /** No value under the key. */
  absent: 0,
  /** The value follows the key in the data area (`valueLen` bytes). */
  present: 1,
} as const;

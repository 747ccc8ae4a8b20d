/**
 * A bare channel worker for `latency_test.ts`: runs the real worker spin
 * policy (`WorkerSpin.wait`) on a channel the test drives by hand, with no
 * guest; it never answers, and leaves once the channel is closed.
 *
 * @module
 */

import { HEADER_BYTES, Slot, State } from "../channel/layout.ts";
import { WorkerSpin } from "../channel/spin.ts";

self.onmessage = (e: MessageEvent<{ channel: SharedArrayBuffer; spin: SharedArrayBuffer }>) => {
  const c = new Int32Array(e.data.channel, 0, HEADER_BYTES / 4);
  const w = new WorkerSpin(c, e.data.spin);
  for (let s = Atomics.load(c, Slot.state); s !== State.closed; s = Atomics.load(c, Slot.state)) {
    w.wait(s);
  }
  self.close();
};

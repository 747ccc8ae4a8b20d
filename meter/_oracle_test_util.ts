/**
 * A reference fuel meter for the tests: it charges every instruction just
 * before it runs, with no regions, no folding and no checks. Whatever the
 * region analysis does, a call that returns normally must burn exactly what
 * this oracle says.
 *
 * @module
 */

import { ByteReader } from "../wasm/reader.ts";
import { ByteWriter } from "./_bytes.ts";
import {
  K_BLOCK,
  K_BULK_BYTES,
  K_CALL,
  K_CALL_INDIRECT,
  K_ELSE,
  K_END,
  K_IF,
  K_LOOP,
  K_MEMORY_GROW,
  K_RETURN_CALL,
  K_RETURN_CALL_INDIRECT,
  K_TABLE_ELEMS,
  newInstr,
  readInstr,
  readValType,
} from "../wasm/code.ts";
import { parseModule } from "../wasm/module.ts";
import { planGuestMemory } from "./_budget.ts";
import { assemble, layoutOf, sizePrefixed } from "./_encode.ts";
import { COSTS } from "./costs.ts";

/** The static price of an instruction kind, straight from the documented table. */
function price(kind: number): number {
  if (kind === K_BLOCK || kind === K_LOOP || kind === K_ELSE || kind === K_END) return 0;
  if (kind === K_CALL || kind === K_RETURN_CALL) return 4;
  if (kind === K_CALL_INDIRECT || kind === K_RETURN_CALL_INDIRECT) return 6;
  return 1;
}

/**
 * Builds the oracle: `bytes` with a per-instruction charge and the same
 * fuel exports as a metered module.
 *
 * @param bytes A module.
 * @returns The oracle module.
 */
export function oracle(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (COSTS.call !== 4 || COSTS.callIndirect !== 6) throw new Error("Oracle prices are stale");
  const m = parseModule(bytes);
  const layout = layoutOf(m, "global");
  const g = layout.fuelGlobal;
  const bodies = m.bodies.map((b) => {
    const r = new ByteReader(bytes, b.start, b.end);
    const w = new ByteWriter();
    const groups = r.u32();
    w.u32(groups);
    const localsStart = r.pos;
    for (let n = groups; n > 0; n--) {
      r.u32();
      readValType(r, "oracle");
    }
    w.bytes(bytes.subarray(localsStart, r.pos));
    const instr = newInstr();
    let depth = 1;
    while (depth > 0) {
      const at = r.pos;
      readInstr(r, instr, "oracle");
      const c = price(instr.kind);
      if (c > 0) {
        // global.get G; i64.const c; i64.sub; global.set G
        w.byte(0x23);
        w.u32(g);
        w.byte(0x42);
        w.s64(BigInt(c));
        w.byte(0x7d);
        w.byte(0x24);
        w.u32(g);
      }
      if (instr.kind === K_MEMORY_GROW) {
        w.byte(0x10);
        w.u32(layout.chargePages);
      } else if (instr.kind === K_BULK_BYTES) {
        w.byte(0x10);
        w.u32(layout.chargeBytes);
      } else if (instr.kind === K_TABLE_ELEMS) {
        w.byte(0x10);
        w.u32(layout.chargeElements);
      }
      w.bytes(bytes.subarray(at, r.pos));
      if (instr.kind === K_BLOCK || instr.kind === K_LOOP || instr.kind === K_IF) depth++;
      else if (instr.kind === K_END) depth--;
    }
    return w.finish();
  });
  const options = {
    fuel: true,
    startFuel: 0n,
    maxMemoryPages: 65536,
    maxTableElements: 1_000_000,
    maxGuestBytes: Number.MAX_SAFE_INTEGER,
    refuel: false,
  };
  return assemble(m, sizePrefixed(bodies), layout, options, planGuestMemory(m, options)).bytes;
}

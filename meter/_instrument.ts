/**
 * Fuel instrumentation of one function body: the region analysis and the
 * rewrite.
 *
 * A *region* is a run of instructions that, once entered, runs to its end
 * unless something traps. Its static cost (see `costs.ts`) is charged once,
 * up front, by a *charge point* at its entry. Charge points sit at function
 * entry, at the start of each `loop` body (so every iteration pays), at the
 * start of each `if` and `else` arm, after each `br_if` (the fall-through),
 * and after the `end` of a construct when that continuation is not certain.
 *
 * The continuation after a `block`/`loop`/`if` … `end` is *certain* when no
 * branch inside the construct leaves it (no `br*` to an outer label, no
 * `return`, no `return_call*`): then every normal execution that enters the
 * construct reaches its `end`, so the continuation's cost is added to the
 * region that contains the construct's start instead of paying a new check.
 * Code after an unconditional transfer (`br`, `br_table`, `return`,
 * `return_call*`, `unreachable`) is dead and is not charged.
 *
 * On normal completion the fuel burnt is exactly the sum of the costs of the
 * instructions executed plus the dynamic charges. A trap may leave charged the
 * unexecuted rest of its region (and the certain continuations folded into
 * it).
 *
 * Checks (`counter < 0` ⇒ write it back and trap with `unreachable`) and
 * emission modes, chosen per function:
 * - *global* (functions without a loop): every charge updates the fuel global
 *   and checks it. No code of the function runs on an overdrawn counter.
 * - *local* (functions with a loop): the counter lives in an appended i64
 *   local, loaded at entry, written back to the global before every call,
 *   `return`, `return_call*`, branch to the function label and the final
 *   `end`, and reloaded after every call. Checks are deferred: a plain charge
 *   is a single `i64.sub` on the local; the check runs at function entry, at
 *   every loop header (so each iteration checks), before a call that leaves
 *   the module's defined code (an import, `call_indirect`) and at every exit.
 *   Between two checks only acyclic code of one function runs (a call to a
 *   defined function reaches the callee's entry check), so an overdrawn
 *   counter is caught before any loop iteration, any call to the outside
 *   and any return. A trap that is not fuel exhaustion may leave the global
 *   at the value of the last write-back.
 *
 * Either way the fuel burnt is the same: modes differ only in when a
 * negative counter is noticed.
 *
 * @module
 */

import { ByteReader, readSigned } from "../wasm/reader.ts";
import type { ByteWriter } from "./_bytes.ts";
import {
  type Instr,
  K_BLOCK,
  K_BR,
  K_BR_IF,
  K_BR_TABLE,
  K_BULK_BYTES,
  K_CALL,
  K_CALL_INDIRECT,
  K_ELSE,
  K_END,
  K_IF,
  K_LOOP,
  K_MEMORY_GROW,
  K_PLAIN,
  K_REF_FUNC,
  K_RETURN,
  K_RETURN_CALL,
  K_RETURN_CALL_INDIRECT,
  K_TABLE_ELEMS,
  K_UNREACHABLE,
  newInstr,
  readInstr,
  readValType,
  unknown,
} from "../wasm/code.ts";
import { COSTS } from "./costs.ts";

/**
 * How charges are emitted (see the module doc). `auto` is what `meter()`
 * uses; the others exist for the benchmark's comparison:
 * - `auto`: `local` mode with deferred checks in functions with a loop,
 *   `global` mode with a check at every charge elsewhere;
 * - `auto-strict`: as `auto`, with a check at every charge everywhere;
 * - `global`: `global` mode with a check at every charge everywhere;
 * - `local`: `local` mode with deferred checks everywhere;
 * - `helper`: every static charge calls a helper function.
 */
export type Strategy = "auto" | "auto-strict" | "global" | "local" | "helper";

/** Indices the rewritten code refers to. */
export interface InstrumentContext {
  /** The fuel global. */
  fuelGlobal: number;
  /** Number of imported functions (calls to them are checked first). */
  importedFuncs: number;
  /** `(i32) -> i32` helper charging `memoryGrowPage` per unit. */
  chargePages: number;
  /** `(i32) -> i32` helper charging `bulkByte` per unit. */
  chargeBytes: number;
  /** `(i32) -> i32` helper charging `tableElement` per unit. */
  chargeElements: number;
  /** `(i64) -> ()` helper charging its argument (strategy `helper` only). */
  chargeStatic: number;
  /**
   * The `() -> ()` helper a check calls when the counter is negative instead
   * of trapping (it refuels from the reserve, or traps); -1 without refuel.
   */
  refuel: number;
  /** How far defined functions move (1 when the refuel import is added, else 0). */
  funcShift: number;
  /** Parameter count of each type (for loop block types). */
  typeParams: readonly number[];
  /** Emission mode. */
  strategy: Strategy;
  /** Scratch state, reused from body to body. */
  scan: Scan;
  /** Scratch instruction, reused. */
  instr: Instr;
}

/** V8's limit on params + locals of one function. */
const MAX_LOCALS = 50_000;

/** The frame kind of the function body itself (others are `K_BLOCK`, `K_LOOP`, `K_IF`). */
const FUNC = -1;

/** The region id of dead code. */
const DEAD = -1;

// Insertions, by type; the argument is a region, a helper index or unused.
/** Function entry: load the counter, charge the entry region, check. */
const I_ENTRY = 0;
/** A region's charge. */
const I_CHARGE = 1;
/** A loop header's charge: always checked. */
const I_CHARGE_LOOP = 2;
/** Write the counter back to the global (local mode). */
const I_SYNC = 3;
/** Write the counter back and, with deferred checks, check it. */
const I_SYNC_CHECK = 4;
/** Reload the counter from the global after a call (local mode). */
const I_RELOAD = 5;
/** Call a dynamic-charge helper. */
const I_DYNAMIC = 6;
/** Rewrite the function index of `call`, `return_call` or `ref.func`; the argument is the instruction's end. */
const I_FUNC_INDEX = 7;
/** Open the wrappers of a refuelling loop (before its `loop`); the argument is the end of the `loop` instruction. */
const I_LOOP_HEAD = 8;
/** A wrapped loop header's charge: a negative counter branches out to the refuel. */
const I_CHARGE_WRAPPED = 9;
/** Close the wrappers of a refuelling loop (after its `end`): refuel, re-enter; the argument is the header region. */
const I_LOOP_TAIL = 10;
/** Rewrite the label depths of a branch; the argument indexes `Scan.branchEnd`. */
const I_BRANCH = 11;

/** Frame flag: some branch inside leaves the construct. */
const ESCAPES = 1;
/** Frame flag: some path reaches the `end` (a branch to the label, or a fall-through of an arm). */
const REACH_END = 2;
/** Frame flag: the `if` has an `else`. */
const HAS_ELSE = 4;

/**
 * The state of the region analysis of one body, as flat arrays reused from
 * body to body: the scan is the hot loop of the meter and allocates nothing
 * per instruction.
 */
export class Scan {
  // Control frames: kind, the region the construct started in (or DEAD),
  // and flags.
  frameKind: number[] = [];
  frameOuter: number[] = [];
  frameFlags: number[] = [];
  /** The header region of a wrapped loop frame (see `I_LOOP_HEAD`), else -1. */
  frameWrapped: number[] = [];
  frames = 0;
  /** Static cost of each region, by region id. */
  costs: number[] = [];
  regions = 0;
  // Insertions: byte offset, type, argument (region id or helper index).
  insPos: number[] = [];
  insType: number[] = [];
  insArg: number[] = [];
  inserts = 0;
  // Branches whose depths change: the instruction's end, and its new depths.
  branchEnd: number[] = [];
  branchFirst: number[] = [];
  branchCount: number[] = [];
  depths: number[] = [];
  branches = 0;

  reset(): void {
    this.frames = 0;
    this.regions = 0;
    this.inserts = 0;
    this.branches = 0;
    this.depths.length = 0;
  }

  pushFrame(kind: number, outer: number): void {
    const i = this.frames++;
    this.frameKind[i] = kind;
    this.frameOuter[i] = outer;
    this.frameFlags[i] = 0;
    this.frameWrapped[i] = -1;
  }

  /**
   * The depth a branch to label `depth` gets once every wrapped loop it
   * leaves has gained its three wrappers.
   */
  wrappedDepth(depth: number): number {
    const t = this.frames - 1 - depth;
    let d = depth;
    for (let i = Math.max(t + 1, 0); i < this.frames; i++) if (this.frameWrapped[i] >= 0) d += 3;
    return d;
  }

  /** Records the rewrite of the branch ending at `end` if a wrapped loop moved its labels. */
  rewriteBranch(at: number, end: number, labels: readonly number[]): void {
    let changed = false;
    const first = this.depths.length;
    for (const depth of labels) {
      const d = this.wrappedDepth(depth);
      if (d !== depth) changed = true;
      this.depths.push(d);
    }
    if (!changed) {
      this.depths.length = first;
      return;
    }
    const k = this.branches++;
    this.branchEnd[k] = end;
    this.branchFirst[k] = first;
    this.branchCount[k] = labels.length;
    this.insert(at, I_BRANCH, k);
  }

  insert(pos: number, type: number, arg: number): void {
    const i = this.inserts++;
    this.insPos[i] = pos;
    this.insType[i] = type;
    this.insArg[i] = arg;
  }

  /** A new region whose charge sits at `pos`; returns its id. */
  region(pos: number, type: number): number {
    const id = this.regions++;
    this.costs[id] = 0;
    this.insert(pos, type, id);
    return id;
  }

  /**
   * Records a branch to label `depth`.
   *
   * @returns 1 if it leaves the function, 0 if not, -1 if the depth is out of range.
   */
  branch(depth: number): number {
    const t = this.frames - 1 - depth;
    if (t < 0) return -1;
    for (let i = t + 1; i < this.frames; i++) this.frameFlags[i] |= ESCAPES;
    const kind = this.frameKind[t];
    if (kind === FUNC) return 1;
    if (kind !== K_LOOP) this.frameFlags[t] |= REACH_END;
    return 0;
  }

  /** Records a `return`: every construct is left. */
  escapeAll(): void {
    for (let i = 1; i < this.frames; i++) this.frameFlags[i] |= ESCAPES;
  }
}

/** `loop` (empty type); `block` (empty type): the inner wrappers of a refuelling loop. */
const WRAP_HEAD = Uint8Array.of(0x03, 0x40, 0x02, 0x40);
/** `i64.const 0; i64.lt_s; br_if 1` (to `$refuel`). */
const BRANCH_IF_NEGATIVE = Uint8Array.of(0x42, 0x00, 0x53, 0x0d, 0x01);
/** `br 2` (to `$exit`, with the loop's results); `end` (of `$refuel`). */
const EXIT_REFUEL = Uint8Array.of(0x0c, 0x02, 0x0b);
/** `br 0` (to `$again`); `end`; `unreachable`; `end` (of `$exit`). */
const AGAIN = Uint8Array.of(0x0c, 0x00, 0x0b, 0x00, 0x0b);

/** Whether a block type (at `pos`) takes parameters: such loops are not wrapped. */
function hasParams(bytes: Uint8Array, pos: number, typeParams: readonly number[]): boolean {
  const b = bytes[pos];
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f && (b & 0x40) !== 0)) return false;
  const index = readSigned(new ByteReader(bytes, pos), 33);
  return index < 0 || (typeParams[index] ?? 1) > 0;
}

function cost(instr: Instr): number {
  switch (instr.kind) {
    case K_BLOCK:
    case K_LOOP:
    case K_ELSE:
    case K_END:
      return COSTS.structure;
    case K_CALL:
    case K_RETURN_CALL:
      return COSTS.call;
    case K_CALL_INDIRECT:
    case K_RETURN_CALL_INDIRECT:
      return COSTS.callIndirect;
    default:
      return COSTS.instruction;
  }
}

function leavesFunction(scan: Scan, depth: number, where: string, at: number): boolean {
  const leaves = scan.branch(depth);
  if (leaves < 0) throw unknown(`branch depth ${depth}`, where, at);
  return leaves === 1;
}

/**
 * Reads a function body through the feature gate without rewriting it.
 *
 * @param bytes The module.
 * @param start Offset of the locals vector.
 * @param end Offset just past the body.
 * @param where For messages, e.g. `function 3`.
 */
export function checkBody(bytes: Uint8Array, start: number, end: number, where: string): void {
  const r = new ByteReader(bytes, start, end);
  for (let n = r.u32(); n > 0; n--) {
    r.u32();
    readValType(r, where);
  }
  const instr = newInstr();
  let depth = 1;
  while (depth > 0) {
    readInstr(r, instr, where);
    if (instr.kind === K_BLOCK || instr.kind === K_LOOP || instr.kind === K_IF) depth++;
    else if (instr.kind === K_END) depth--;
  }
  if (r.pos !== end) r.fail(`Trailing bytes after the end of ${where}`);
}

/**
 * Instruments one function body.
 *
 * @param bytes The module.
 * @param start Offset of the locals vector.
 * @param end Offset just past the body.
 * @param params Number of parameters of the function.
 * @param ctx Indices and mode.
 * @param where For messages, e.g. `function 3`.
 * @param w Receives the new body (locals and code, without the size prefix).
 */
export function instrumentBody(
  bytes: Uint8Array,
  start: number,
  end: number,
  params: number,
  ctx: InstrumentContext,
  where: string,
  w: ByteWriter,
): void {
  const r = new ByteReader(bytes, start, end);
  const groups = r.u32();
  const localsStart = r.pos;
  let locals = params;
  for (let n = groups; n > 0; n--) {
    locals += r.u32();
    readValType(r, where);
  }
  const codeStart = r.pos;

  const scan = ctx.scan;
  scan.reset();
  let cur = scan.region(codeStart, I_ENTRY);
  scan.pushFrame(FUNC, DEAD);
  let hasLoop = false;

  const instr = ctx.instr;
  const strategy = ctx.strategy;
  // With refuel and the counter in a local, each loop whose header checks is wrapped so that
  // the refuel call sits outside it (a call inside a loop, even never made, slows V8's code
  // for the whole loop 2-3x): block $exit (loop $again (block $refuel (loop … br_if $refuel …)
  // br $exit) refuel, br $again) unreachable.
  const wrap = ctx.refuel >= 0 && locals < MAX_LOCALS &&
    (strategy === "local" || strategy === "auto" || strategy === "auto-strict");
  const one: number[] = [0];
  // With refuel, \`auto\` keeps the counter in a local everywhere: fewer checks, so fewer
  // refuel calls in the code (each one, even never made, costs V8 speed).
  const refuelEverywhere = ctx.refuel >= 0;
  const shift = ctx.funcShift;
  const moved = (): boolean => shift !== 0 && instr.index >= ctx.importedFuncs;
  while (scan.frames > 0) {
    const at = r.pos;
    readInstr(r, instr, where);
    if (cur !== DEAD) scan.costs[cur] += cost(instr);
    switch (instr.kind) {
      case K_PLAIN:
        break;
      case K_REF_FUNC:
        if (moved()) scan.insert(at, I_FUNC_INDEX, r.pos);
        break;
      case K_BLOCK:
        scan.pushFrame(K_BLOCK, cur);
        break;
      case K_LOOP:
        scan.pushFrame(K_LOOP, cur);
        if (cur !== DEAD) {
          hasLoop = true;
          if (wrap && !hasParams(bytes, at + 1, ctx.typeParams)) {
            scan.insert(at, I_LOOP_HEAD, r.pos);
            cur = scan.region(r.pos, I_CHARGE_WRAPPED);
            scan.frameWrapped[scan.frames - 1] = cur;
          } else cur = scan.region(r.pos, I_CHARGE_LOOP);
        }
        break;
      case K_IF:
        scan.pushFrame(K_IF, cur);
        if (cur !== DEAD) cur = scan.region(r.pos, I_CHARGE);
        break;
      case K_ELSE: {
        const f = scan.frames - 1;
        if (scan.frameKind[f] !== K_IF || (scan.frameFlags[f] & HAS_ELSE) !== 0) {
          throw unknown("else", where, at);
        }
        scan.frameFlags[f] |= HAS_ELSE | (cur !== DEAD ? REACH_END : 0);
        cur = scan.frameOuter[f] !== DEAD ? scan.region(r.pos, I_CHARGE) : DEAD;
        break;
      }
      case K_END: {
        const f = --scan.frames;
        const kind = scan.frameKind[f];
        if (kind === FUNC) {
          if (cur !== DEAD) scan.insert(at, I_SYNC_CHECK, 0);
          break;
        }
        if (scan.frameWrapped[f] >= 0) scan.insert(r.pos, I_LOOP_TAIL, scan.frameWrapped[f]);
        const outer = scan.frameOuter[f];
        const flags = scan.frameFlags[f];
        const reachable = outer !== DEAD &&
          (cur !== DEAD || (flags & REACH_END) !== 0 ||
            (kind === K_IF && (flags & HAS_ELSE) === 0));
        if (!reachable) cur = DEAD;
        else if ((flags & ESCAPES) === 0) cur = outer;
        else cur = scan.region(r.pos, I_CHARGE);
        break;
      }
      case K_BR:
        if (cur !== DEAD && leavesFunction(scan, instr.index, where, at)) {
          scan.insert(at, I_SYNC_CHECK, 0);
        }
        if (wrap) {
          one[0] = instr.index;
          scan.rewriteBranch(at, r.pos, one);
        }
        cur = DEAD;
        break;
      case K_BR_IF:
        if (cur !== DEAD) {
          if (leavesFunction(scan, instr.index, where, at)) scan.insert(at, I_SYNC_CHECK, 0);
        }
        if (wrap) {
          one[0] = instr.index;
          scan.rewriteBranch(at, r.pos, one);
        }
        if (cur !== DEAD) cur = scan.region(r.pos, I_CHARGE);
        break;
      case K_BR_TABLE:
        if (cur !== DEAD) {
          let leaves = false;
          for (const depth of instr.labels) {
            leaves = leavesFunction(scan, depth, where, at) || leaves;
          }
          if (leaves) scan.insert(at, I_SYNC_CHECK, 0);
        }
        if (wrap) scan.rewriteBranch(at, r.pos, instr.labels);
        cur = DEAD;
        break;
      case K_RETURN:
      case K_RETURN_CALL:
      case K_RETURN_CALL_INDIRECT:
        if (cur !== DEAD) {
          scan.escapeAll();
          scan.insert(at, I_SYNC_CHECK, 0);
        }
        if (instr.kind === K_RETURN_CALL && moved()) scan.insert(at, I_FUNC_INDEX, r.pos);
        cur = DEAD;
        break;
      case K_UNREACHABLE:
        cur = DEAD;
        break;
      case K_CALL:
      case K_CALL_INDIRECT:
        if (cur !== DEAD) {
          // The callee checks at its entry, unless it is an import or unknown.
          const leaves = instr.kind === K_CALL_INDIRECT || instr.index < ctx.importedFuncs;
          scan.insert(at, leaves ? I_SYNC_CHECK : I_SYNC, 0);
          if (instr.kind === K_CALL && moved()) scan.insert(at, I_FUNC_INDEX, r.pos);
          scan.insert(r.pos, I_RELOAD, 0);
        } else if (instr.kind === K_CALL && moved()) scan.insert(at, I_FUNC_INDEX, r.pos);
        break;
      case K_MEMORY_GROW:
      case K_BULK_BYTES:
      case K_TABLE_ELEMS:
        if (cur !== DEAD) {
          const helper = instr.kind === K_MEMORY_GROW
            ? ctx.chargePages
            : instr.kind === K_BULK_BYTES
            ? ctx.chargeBytes
            : ctx.chargeElements;
          scan.insert(at, I_SYNC, 0);
          scan.insert(at, I_DYNAMIC, helper);
          scan.insert(at, I_RELOAD, 0);
        }
        break;
    }
  }
  if (r.pos !== end) r.fail(`Trailing bytes after the end of ${where}`);

  const cached = locals < MAX_LOCALS &&
    (strategy === "local" ||
      ((strategy === "auto" || strategy === "auto-strict") && (hasLoop || refuelEverywhere)));
  const deferred = cached && strategy !== "auto-strict";
  const fuelLocal = locals;
  const g = ctx.fuelGlobal;

  w.u32(groups + (cached ? 1 : 0));
  w.range(bytes, localsStart, codeStart);
  if (cached) {
    w.u32(1);
    w.byte(0x7e);
  }
  const op = (opcode: number, index: number): void => {
    w.byte(opcode);
    w.u32(index);
  };
  const refuel = ctx.refuel;
  /**
   * `i64.const 0; i64.lt_s; if; [local.get L; global.set G;] unreachable; end`,
   * or with refuel `… if; [local.get L; global.set G;] call R; [global.get G; local.set L;] end`.
   */
  const check = (sync: boolean): void => {
    w.byte(0x42);
    w.byte(0x00);
    w.byte(0x53);
    w.byte(0x04);
    w.byte(0x40);
    if (sync) {
      op(0x20, fuelLocal);
      op(0x24, g);
    }
    if (refuel < 0) w.byte(0x00);
    else {
      op(0x10, refuel);
      if (cached) {
        op(0x23, g);
        op(0x21, fuelLocal);
      }
    }
    w.byte(0x0b);
  };
  const charge = (amount: number, fromGlobal: boolean, checked: boolean): void => {
    if (strategy === "helper") {
      w.byte(0x42);
      w.sNonNegative(amount);
      op(0x10, ctx.chargeStatic);
      return;
    }
    // (global.get G | local.get L); i64.const C; i64.sub
    op(fromGlobal ? 0x23 : 0x20, fromGlobal ? g : fuelLocal);
    w.byte(0x42);
    w.sNonNegative(amount);
    w.byte(0x7d);
    if (!cached) {
      op(0x24, g); // global.set G; global.get G; check
      op(0x23, g);
      check(false);
    } else if (checked) {
      op(0x22, fuelLocal); // local.tee L; check
      check(true);
    } else {
      op(0x21, fuelLocal); // local.set L
    }
  };

  const { costs, insPos, insType, insArg } = scan;
  let copied = codeStart;
  for (let i = 0; i < scan.inserts; i++) {
    const pos = insPos[i];
    if (pos > copied) {
      w.range(bytes, copied, pos);
      copied = pos;
    }
    switch (insType[i]) {
      case I_ENTRY:
        if (costs[insArg[i]] > 0) charge(costs[insArg[i]], true, true);
        else if (cached) {
          op(0x23, g);
          op(0x21, fuelLocal);
        }
        break;
      case I_CHARGE:
      case I_CHARGE_LOOP: {
        const amount = costs[insArg[i]];
        if (amount > 0) charge(amount, !cached, !deferred || insType[i] === I_CHARGE_LOOP);
        break;
      }
      case I_SYNC:
      case I_SYNC_CHECK:
        if (cached) {
          op(0x20, fuelLocal);
          op(0x24, g);
          if (deferred && insType[i] === I_SYNC_CHECK) {
            op(0x20, fuelLocal);
            check(false);
          }
        }
        break;
      case I_RELOAD:
        if (cached) {
          op(0x23, g);
          op(0x21, fuelLocal);
        }
        break;
      case I_DYNAMIC:
        op(0x10, insArg[i]);
        break;
      case I_LOOP_HEAD:
        // block <the loop's type>; loop; block
        w.byte(0x02);
        w.range(bytes, pos + 1, insArg[i]);
        w.bytes(WRAP_HEAD);
        break;
      case I_CHARGE_WRAPPED: {
        const amount = costs[insArg[i]];
        if (amount > 0) {
          // local.get L; i64.const C; i64.sub; local.tee L; i64.const 0; i64.lt_s; br_if $refuel
          op(0x20, fuelLocal);
          w.byte(0x42);
          w.sNonNegative(amount);
          w.byte(0x7d);
          op(0x22, fuelLocal);
          w.bytes(BRANCH_IF_NEGATIVE);
        }
        break;
      }
      case I_LOOP_TAIL: {
        // br $exit; end; sync; call refuel; reload (+ the header's charge, paid again on re-entry);
        // br $again; end; unreachable; end
        w.bytes(EXIT_REFUEL);
        op(0x20, fuelLocal);
        op(0x24, g);
        op(0x10, refuel);
        op(0x23, g);
        const amount = costs[insArg[i]];
        if (amount > 0) {
          w.byte(0x42);
          w.sNonNegative(amount);
          w.byte(0x7c);
        }
        op(0x21, fuelLocal);
        w.bytes(AGAIN);
        break;
      }
      case I_BRANCH: {
        const k = insArg[i];
        const n = scan.branchCount[k];
        w.byte(bytes[pos]);
        if (bytes[pos] === 0x0e) w.u32(n - 1);
        for (let j = 0; j < n; j++) w.u32(scan.depths[scan.branchFirst[k] + j]);
        copied = scan.branchEnd[k];
        break;
      }
      case I_FUNC_INDEX: {
        const end = insArg[i];
        const rr = new ByteReader(bytes, pos + 1, end);
        op(bytes[pos], rr.u32() + shift);
        copied = end;
        break;
      }
    }
  }
  w.range(bytes, copied, end);
}

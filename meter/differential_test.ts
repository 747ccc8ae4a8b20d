// Differential tests: for a corpus of varied modules and a few hundred
// generated programs, the plain module, every emission mode of the meter and
// a per-instruction reference meter (the oracle) must agree on every result
// and trap, and every mode must burn exactly the oracle's fuel on calls that
// return normally. Every mode is also built with refuel (a tiny slice, so
// most checks refuel, and every defined function renumbered): it must agree
// with the same mode without refuel on every result, trap and fuel count (on
// a trap other than exhaustion, auto with refuel may report less: see below).
import assert from "node:assert/strict";
import { meterWith } from "./_meter.ts";
import { REFUEL_IMPORT } from "./meter.ts";
import type { Strategy } from "./_instrument.ts";
import { CORPUS } from "./_corpus_test_util.ts";
import { oracle } from "./_oracle_test_util.ts";
import { type Exports, instantiate, type Metered, metered, prng, wat } from "./_test_util.ts";

const STRATEGIES: Strategy[] = ["auto", "auto-strict", "global", "local", "helper"];

const rand = prng(0x5eed);
const INPUTS: number[] = [
  0,
  1,
  2,
  3,
  5,
  7,
  12,
  31,
  64,
  100,
  255,
  1000,
  65535,
  65536,
  -1,
  -2,
  -100,
  0x7fffffff,
  -0x80000000,
  ...Array.from({ length: 12 }, () => (rand() * 2 ** 32) | 0),
];

function outcome(run: () => unknown): string {
  try {
    return `ok ${JSON.stringify(run(), (_k, v) => typeof v === "bigint" ? `${v}n` : v)}`;
  } catch (e) {
    return `trap ${String(e)}`;
  }
}

function describe(r: Metered): string {
  return r.error === undefined
    ? `ok ${JSON.stringify(r.value, (_k, v) => typeof v === "bigint" ? `${v}n` : v)}`
    : `trap ${String(r.error)}`;
}

/**
 * Runs every export of `bytes` taking one i32 on every input, in the same
 * order on fresh instances of each build, and compares.
 */
async function differential(name: string, text: string, inputs = INPUTS): Promise<number> {
  const plainBytes = await wat(text);
  const imports = { env: { g: 1000 } };
  const plain = instantiate(plainBytes, imports);
  const reference = instantiate(oracle(plainBytes), imports);
  const builds: [Strategy, Exports][] = STRATEGIES.map((s) => [
    s,
    instantiate(meterWith(plainBytes, {}, s).bytes, imports),
  ]);
  const refuelImports = {
    ...imports,
    [REFUEL_IMPORT.module]: { [REFUEL_IMPORT.name]: () => 3n },
  };
  const refuelled: Exports[] = STRATEGIES.map((s) =>
    instantiate(meterWith(plainBytes, { refuel: true }, s).bytes, refuelImports)
  );
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(plainBytes))
    .filter((e) => e.kind === "function").map((e) => e.name);
  let checked = 0;
  for (const fn of exports) {
    for (const input of inputs) {
      const where = `${name}.${fn}(${input})`;
      const expected = outcome(() => plain[fn](input));
      const ref = metered(reference, fn, [input]);
      assert.equal(describe(ref), expected, `oracle ${where}`);
      for (const [i, [strategy, x]] of builds.entries()) {
        const r = metered(x, fn, [input]);
        const rr = metered(refuelled[i], fn, [input]);
        assert.equal(describe(rr), expected, `${strategy} with refuel ${where}`);
        assert.equal(rr.left < 0n, r.left < 0n, `exhaustion of ${strategy} with refuel ${where}`);
        if (
          rr.error === undefined || rr.left < 0n ||
          (strategy !== "auto" && strategy !== "auto-strict")
        ) {
          assert.equal(rr.used, r.used, `fuel of ${strategy} with refuel ${where}`);
        } else {
          // With refuel, auto keeps the counter in a local in every function: another trap
          // leaves the global at its last write-back, at most what the build without burnt.
          assert.ok(rr.used <= r.used, `fuel of trapping ${strategy} with refuel ${where}`);
        }
        assert.equal(describe(r), expected, `${strategy} ${where}`);
        if (r.error === undefined) {
          assert.equal(r.used, ref.used, `fuel of ${strategy} ${where}`);
          assert.ok(r.left >= 0n);
        } else if (strategy === "global" || strategy === "helper") {
          // A trap charges at least what ran (whole regions, up front).
          assert.ok(r.used >= ref.used, `fuel of trapping ${strategy} ${where}`);
        }
        checked++;
      }
    }
  }
  return checked;
}

for (const [name, text] of Object.entries(CORPUS)) {
  Deno.test(`meter() agrees with the plain module and the oracle: ${name}`, async () => {
    const checked = await differential(name, text);
    assert.ok(checked > 0);
  });
}

// ---------------------------------------------------------------------------
// Generated programs: random structured control flow over three locals.

class Gen {
  #r: () => number;
  #labels: string[] = [];
  #n = 0;
  constructor(seed: number) {
    this.#r = prng(seed);
  }
  #int(n: number): number {
    return Math.floor(this.#r() * n);
  }
  #pick<T>(xs: T[]): T {
    return xs[this.#int(xs.length)];
  }
  expr(depth = 0): string {
    if (depth > 2 || this.#r() < 0.3) {
      return this.#pick([
        "(local.get $x)",
        "(local.get $a)",
        "(local.get $b)",
        `(i32.const ${this.#int(200) - 50})`,
      ]);
    }
    const op = this.#pick([
      "i32.add",
      "i32.sub",
      "i32.mul",
      "i32.xor",
      "i32.and",
      "i32.or",
      "i32.shl",
      "i32.shr_u",
      "i32.rotl",
      "i32.lt_s",
      "i32.eq",
    ]);
    return `(${op} ${this.expr(depth + 1)} ${this.expr(depth + 1)})`;
  }
  cond(): string {
    return this.#pick([
      `(i32.and (local.get $x) (i32.const ${1 << this.#int(8)}))`,
      `(i32.lt_s (local.get $a) ${this.expr(1)})`,
      `(i32.and ${this.expr(1)} (i32.const 1))`,
    ]);
  }
  stmts(depth: number): string {
    const n = 1 + this.#int(4);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.stmt(depth));
    return out.join("\n");
  }
  stmt(depth: number): string {
    const k = this.#r();
    const label = (): string => this.#pick(this.#labels);
    if (depth > 4 || k < 0.3) {
      return `(local.set ${this.#pick(["$a", "$b"])} ${this.expr()})`;
    }
    if (k < 0.42) {
      const name = `$L${this.#n++}`;
      const cond = this.cond();
      this.#labels.push(name);
      const then = this.stmts(depth + 1);
      const otherwise = this.#r() < 0.5 ? `(else ${this.stmts(depth + 1)})` : "";
      this.#labels.pop();
      return `(if ${name} ${cond} (then ${then}) ${otherwise})`;
    }
    if (k < 0.52) return `(block ${this.#nested(depth, "block")})`;
    if (k < 0.62) return `(loop ${this.#nested(depth, "loop")})`;
    if (this.#labels.length > 0 && k < 0.75) return `(br_if ${label()} ${this.cond()})`;
    if (this.#labels.length > 0 && k < 0.8) {
      return `(if ${this.cond()} (then (br ${label()})))`;
    }
    if (this.#labels.length > 0 && k < 0.85) {
      const targets = Array.from({ length: 1 + this.#int(3) }, label).join(" ");
      return `(if ${this.cond()} (then (br_table ${targets} ${label()} (i32.and (local.get $a) (i32.const 3)))))`;
    }
    if (k < 0.88) return `(if ${this.cond()} (then (return (local.get $a))))`;
    if (k < 0.94) return `(local.set $b (call $helper (local.get $a) ${this.expr()}))`;
    if (k < 0.96) {
      return `(if (i32.eq (i32.and (local.get $x) (i32.const 1023)) (i32.const 7)) (then unreachable))`;
    }
    return `(local.set $a (i32.div_s ${this.expr()} (i32.or (local.get $b) (i32.const 1))))`;
  }
  #nested(depth: number, kind: "block" | "loop"): string {
    const name = `$L${this.#n++}`;
    this.#labels.push(name);
    // Every loop iteration spends one unit of $guard; at zero the function returns.
    const guard = kind === "loop"
      ? `(local.set $guard (i32.sub (local.get $guard) (i32.const 1)))
         (if (i32.le_s (local.get $guard) (i32.const 0)) (then (return (local.get $a))))`
      : "";
    const body = `${guard}\n${this.stmts(depth + 1)}`;
    this.#labels.pop();
    return `${name} ${body}`;
  }
  program(): string {
    return `(module
      (func $helper (param $p i32) (param $q i32) (result i32) (local $i i32)
        (block $out
          (loop $l
            (br_if $out (i32.ge_u (local.get $i) (i32.and (local.get $q) (i32.const 7))))
            (local.set $p (i32.add (i32.mul (local.get $p) (i32.const 31)) (local.get $i)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $p))
      (func (export "run") (param $x i32) (result i32) (local $a i32) (local $b i32) (local $guard i32)
        (local.set $guard (i32.const 40))
        (local.set $a (local.get $x))
        ${this.stmts(0)}
        (local.get $a)))`;
  }
}

Deno.test("meter() agrees with the plain module and the oracle: 300 generated programs", async () => {
  let checked = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const text = new Gen(seed).program();
    try {
      checked += await differential(`generated#${seed}`, text, INPUTS.slice(0, 16));
    } catch (e) {
      throw new Error(`Generated program ${seed} failed:\n${text}`, { cause: e });
    }
  }
  assert.ok(checked > 300 * 16);
});

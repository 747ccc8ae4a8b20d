/**
 * In-process benchmark of the fuel meter's run-time overhead on
 * compute-heavy code: an ASCII upper-casing loop over 64 KiB (as a while
 * loop, and rotated into the do-while shape compilers emit; each pass is
 * followed by a lower-casing pass), an FNV-1a hash loop over the same bytes,
 * and a recursive fib. The plain module and each instrumented build (one
 * per emission mode; `auto` is what `meter()` emits; `refuel N` is `auto`
 * with refuel, the import handing out slices of N fuel, as the plugin host
 * runs every guest) are run in alternating
 * rounds so drift hits all alike; each workload's median time per round is
 * reported with the overhead against plain, then the sum of the medians and
 * the geometric mean of the per-workload ratios.
 *
 * Run: `deno run meter/bench_overhead.ts [rounds]`
 *
 * @module
 */

import { FUEL_EXPORTS, REFUEL_IMPORT } from "./meter.ts";
import { meterWith } from "./_meter.ts";
import type { Strategy } from "./_instrument.ts";
import { type Exports, instantiate, wat } from "./_test_util.ts";

const SOURCE = `(module
  (memory (export "memory") 2)
  ;; Upper-cases ASCII bytes in place over [p, p + n).
  (func (export "upper") (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    local.get $p local.get $n i32.add local.set $end
    block $done
      loop $l
        local.get $p local.get $end i32.ge_u br_if $done
        local.get $p i32.load8_u local.tee $c
        i32.const 97 i32.sub i32.const 26 i32.lt_u
        if
          local.get $p local.get $c i32.const 32 i32.sub i32.store8
        end
        local.get $p i32.const 1 i32.add local.set $p
        br $l
      end
    end)
  ;; Lower-cases back (the next round starts from the same bytes).
  (func (export "lower") (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    local.get $p local.get $n i32.add local.set $end
    block $done
      loop $l
        local.get $p local.get $end i32.ge_u br_if $done
        local.get $p i32.load8_u local.tee $c
        i32.const 65 i32.sub i32.const 26 i32.lt_u
        if
          local.get $p local.get $c i32.const 32 i32.add i32.store8
        end
        local.get $p i32.const 1 i32.add local.set $p
        br $l
      end
    end)
  ;; The same, in the rotated (do-while) shape optimising compilers emit.
  (func (export "upper_rotated") (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    local.get $n i32.eqz br_if 0
    local.get $p local.get $n i32.add local.set $end
    loop $l
      local.get $p i32.load8_u local.tee $c
      i32.const 97 i32.sub i32.const 26 i32.lt_u
      if
        local.get $p local.get $c i32.const 32 i32.sub i32.store8
      end
      local.get $p i32.const 1 i32.add local.tee $p
      local.get $end i32.lt_u br_if $l
    end)
  ;; FNV-1a over [p, p + n), repeated k times.
  (func (export "hash") (param $p i32) (param $n i32) (param $k i32) (result i32)
    (local $h i32) (local $i i32)
    i32.const 0x811c9dc5 local.set $h
    loop $rounds
      i32.const 0 local.set $i
      loop $bytes
        local.get $h
        local.get $p local.get $i i32.add i32.load8_u
        i32.xor
        i32.const 0x01000193 i32.mul
        local.set $h
        local.get $i i32.const 1 i32.add local.tee $i
        local.get $n i32.lt_u br_if $bytes
      end
      local.get $k i32.const 1 i32.sub local.tee $k
      br_if $rounds
    end
    local.get $h)
  (func $fib (export "fib") (param $n i32) (result i32)
    local.get $n i32.const 2 i32.lt_u
    if (result i32)
      local.get $n
    else
      local.get $n i32.const 1 i32.sub call $fib
      local.get $n i32.const 2 i32.sub call $fib
      i32.add
    end))`;

const SIZE = 64 * 1024;
const rounds = Number(Deno.args[0] ?? 40);

interface Variant {
  name: string;
  x: Exports;
}

const plainBytes = await wat(SOURCE);
const variants: Variant[] = [{ name: "plain", x: instantiate(plainBytes) }];
for (const strategy of ["auto", "auto-strict", "global", "local", "helper"] as Strategy[]) {
  const { bytes } = meterWith(plainBytes, {}, strategy);
  variants.push({ name: strategy, x: instantiate(bytes) });
}
for (
  const [name, slice] of [["100k", 100_000n], ["1M", 1_000_000n], ["10M", 10_000_000n]] as const
) {
  const { bytes } = meterWith(plainBytes, { refuel: true }, "auto");

  const refuel = { [REFUEL_IMPORT.name]: () => slice };
  variants.push({
    name: `refuel ${name}`,
    x: instantiate(bytes, { [REFUEL_IMPORT.module]: refuel }),
  });
}

const text = new TextEncoder().encode(
  "The quick brown fox jumps over the lazy dog; 0123456789! ".repeat(SIZE / 57 + 1),
).subarray(0, SIZE);
for (const v of variants) new Uint8Array(v.x.memory.buffer).set(text);

type Workload = (x: Exports) => unknown;
const workloads: Record<string, Workload> = {
  upper: (x) => {
    for (let i = 0; i < 20; i++) {
      x.upper(0, SIZE);
      x.lower(0, SIZE);
    }
  },
  upper_rotated: (x) => {
    for (let i = 0; i < 20; i++) {
      x.upper_rotated(0, SIZE);
      x.lower(0, SIZE);
    }
  },
  hash: (x) => x.hash(0, SIZE, 40),
  fib: (x) => x.fib(27),
};

function time(v: Variant, work: Workload): number {
  if (v.name !== "plain") v.x[FUEL_EXPORTS.set](1n << 60n);
  const t0 = performance.now();
  work(v.x);
  return performance.now() - t0;
}

// Same results everywhere, and warm-up (lets the engine tier up).
for (const [name, work] of Object.entries(workloads)) {
  const results = variants.map((v) => {
    if (v.name !== "plain") v.x[FUEL_EXPORTS.set](1n << 60n);
    return JSON.stringify(work(v.x));
  });
  if (new Set(results).size !== 1) throw new Error(`Results differ for ${name}: ${results}`);
  for (let i = 0; i < 5; i++) for (const v of variants) time(v, work);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`rounds: ${rounds}; medians in ms (overhead vs plain)`);
console.log(["workload", ...variants.map((v) => v.name)].map((s) => s.padEnd(18)).join(""));
const totals = new Map<string, number>();
const logRatios = new Map<string, number>();
for (const [name, work] of Object.entries(workloads)) {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < rounds; r++) {
    // Alternate the order each round.
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) samples.get(v.name)!.push(time(v, work));
  }
  const base = median(samples.get("plain")!);
  const cells = variants.map((v) => {
    const m = median(samples.get(v.name)!);
    totals.set(v.name, (totals.get(v.name) ?? 0) + m);
    logRatios.set(v.name, (logRatios.get(v.name) ?? 0) + Math.log(m / base));
    return v.name === "plain"
      ? m.toFixed(2)
      : `${m.toFixed(2)} (${((m / base - 1) * 100).toFixed(1)}%)`;
  });
  console.log([name, ...cells].map((s) => s.padEnd(18)).join(""));
}
const baseTotal = totals.get("plain")!;
console.log(
  [
    "total",
    ...variants.map((v) => {
      const t = totals.get(v.name)!;
      return v.name === "plain"
        ? t.toFixed(2)
        : `${t.toFixed(2)} (${((t / baseTotal - 1) * 100).toFixed(1)}%)`;
    }),
  ].map((s) => s.padEnd(18)).join(""),
);
const count = Object.keys(workloads).length;
console.log(
  [
    "geomean",
    ...variants.map((v) => {
      const g = Math.exp(logRatios.get(v.name)! / count);
      return v.name === "plain" ? "1.000" : `${g.toFixed(3)} (${((g - 1) * 100).toFixed(1)}%)`;
    }),
  ].map((s) => s.padEnd(18)).join(""),
);

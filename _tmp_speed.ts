import { parseModule } from "./meter/_decode.ts";
import { instrumentBodies, layoutOf, assemble, checkBodies } from "./meter/_encode.ts";
import { wat } from "./meter/_test_util.ts";
const fn = (i: number) => `(func (export "f${i}") (param $n i32) (result i32) (local $i i32) (local $acc i32)
  block $done loop $l
    local.get $i local.get $n i32.ge_u br_if $done
    local.get $acc local.get $i i32.add local.set $acc
    local.get $i i32.const 1 i32.and if local.get $acc i32.const 3 i32.mul local.set $acc else local.get $acc i32.const 7 i32.xor local.set $acc end
    local.get $i i32.const 1 i32.add local.set $i
    br $l end end
  local.get $acc call $h)`;
const text = `(module (func $h (param i32) (result i32) local.get 0) ${Array.from({ length: 20000 }, (_, i) => fn(i)).join("\n")})`;
const bytes = await wat(text);
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  const m = parseModule(bytes);
  const t1 = performance.now();
  checkBodies(m);
  const t2 = performance.now();
  const layout = layoutOf(m, "auto");
  const bodies = instrumentBodies(m, layout);
  const t3 = performance.now();
  const out = assemble(m, bodies, layout, { fuel: true, startFuel: 1n, maxMemoryPages: 65536, maxTableElements: 1e6 });
  const t4 = performance.now();
  console.log(`parse ${(t1 - t0).toFixed(1)} check ${(t2 - t1).toFixed(1)} instrument ${(t3 - t2).toFixed(1)} assemble ${(t4 - t3).toFixed(1)}`);
}

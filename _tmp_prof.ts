import { parseModule } from "./meter/_decode.ts";
import { instrumentBodies, layoutOf, checkBodies } from "./meter/_encode.ts";
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
const m = parseModule(bytes);
const layout = layoutOf(m, "auto");
let bc = Infinity, bi = Infinity;
for (let r = 0; r < 30; r++) {
  const t0 = performance.now(); checkBodies(m); const t1 = performance.now();
  instrumentBodies(m, layout); const t2 = performance.now();
  bc = Math.min(bc, t1 - t0); bi = Math.min(bi, t2 - t1);
}
console.log(`min check ${bc.toFixed(1)} instrument ${bi.toFixed(1)}`);

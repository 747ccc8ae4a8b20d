/**
 * A corpus of small modules exercising every accepted feature: loops,
 * recursion and tail calls, br_table, globals (with an extended constant),
 * tables and call_indirect, SIMD, bulk memory, sign extension and saturating
 * truncation, multi-value blocks, reference types, memory growth and traps.
 * Every export takes one i32. Shared by the differential and fuzz tests.
 *
 * @module
 */

/** WAT source by name. Imports, where any: `env.g`, an immutable i32 global. */
export const CORPUS: Record<string, string> = {
  loops: `(module
    (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
      (local.set $n (i32.and (local.get $n) (i32.const 1023)))
      block $done loop $l
        local.get $i local.get $n i32.ge_u br_if $done
        local.get $acc local.get $i i32.add local.set $acc
        local.get $i i32.const 1 i32.add local.set $i
        br $l end end
      local.get $acc)
    (func (export "collatz") (param $n i32) (result i32) (local $steps i32)
      local.get $n i32.const 0x3fff i32.and i32.const 1 i32.add local.set $n
      block $done
        loop $l
          local.get $n i32.const 1 i32.eq br_if $done
          local.get $steps i32.const 1 i32.add local.set $steps
          local.get $n i32.const 1 i32.and
          if
            local.get $n i32.const 3 i32.mul i32.const 1 i32.add local.set $n
          else
            local.get $n i32.const 1 i32.shr_u local.set $n
          end
          br $l
        end
      end
      local.get $steps)
    (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
      local.get $n i32.const 31 i32.and local.set $n
      loop $outer
        i32.const 0 local.set $j
        block $brk
          loop $inner
            local.get $j local.get $i i32.gt_u br_if $brk
            local.get $acc local.get $i local.get $j i32.mul i32.add local.set $acc
            local.get $j i32.const 1 i32.add local.tee $j
            i32.const 7 i32.rem_u i32.eqz if br $brk end
            br $inner
          end
        end
        local.get $i i32.const 1 i32.add local.tee $i
        local.get $n i32.lt_u br_if $outer
      end
      local.get $acc)
    (func (export "early") (param $n i32) (result i32) (local $i i32)
      loop $l
        local.get $i local.get $n i32.const 100 i32.rem_u i32.eq
        if local.get $i i32.const 1000 i32.mul return end
        local.get $i i32.const 1 i32.add local.set $i
        local.get $i i32.const 200 i32.lt_u br_if $l
      end
      i32.const -1)
    (func (export "brfunc") (param $n i32) (result i32) (local $i i32)
      loop $l
        local.get $i
        local.get $i local.get $n i32.const 63 i32.and i32.ge_u br_if 1
        drop
        local.get $i i32.const 3 i32.add local.set $i
        br $l
      end
      i32.const 0))`,
  recursion: `(module
    (func $fib (param $n i32) (result i32)
      local.get $n i32.const 2 i32.lt_u
      if (result i32) local.get $n
      else
        local.get $n i32.const 1 i32.sub call $fib
        local.get $n i32.const 2 i32.sub call $fib i32.add
      end)
    (func (export "fib") (param $n i32) (result i32) local.get $n i32.const 15 i32.and call $fib)
    (func $ack (param $m i32) (param $n i32) (result i32)
      local.get $m i32.eqz
      if (result i32) local.get $n i32.const 1 i32.add
      else
        local.get $n i32.eqz
        if (result i32) local.get $m i32.const 1 i32.sub i32.const 1 call $ack
        else
          local.get $m i32.const 1 i32.sub
          local.get $m local.get $n i32.const 1 i32.sub call $ack
          call $ack
        end
      end)
    (func (export "ack") (param $x i32) (result i32)
      local.get $x i32.const 3 i32.rem_u local.get $x i32.const 4 i32.shr_u i32.const 7 i32.and call $ack)
    (func $even (param $n i32) (result i32)
      local.get $n i32.eqz if (result i32) i32.const 1
      else local.get $n i32.const 1 i32.sub return_call $odd end)
    (func $odd (param $n i32) (result i32)
      local.get $n i32.eqz if (result i32) i32.const 0
      else local.get $n i32.const 1 i32.sub return_call $even end)
    (func (export "parity") (param $n i32) (result i32) local.get $n i32.const 0xffff i32.and call $even))`,
  br_table: `(module
    (func (export "switch") (param $x i32) (result i32) (local $acc i32)
      block $d block $c block $b block $a
        local.get $x i32.const 7 i32.and
        br_table $a $b $c $a $d $b
      end
      local.get $acc i32.const 1 i32.add local.set $acc
      local.get $x i32.const 100 i32.gt_s br_if $c
      end
      local.get $acc i32.const 10 i32.add local.set $acc
      end
      local.get $acc i32.const 100 i32.add local.set $acc
      end
      local.get $acc local.get $x i32.add)
    (func (export "values") (param $x i32) (result i32)
      block $b (result i32)
        block $a (result i32)
          i32.const 5 local.get $x i32.const 3 i32.and br_table $a $b 0
        end
        i32.const 100 i32.add
      end)
    (func (export "machine") (param $x i32) (result i32) (local $state i32) (local $steps i32)
      local.get $x i32.const 3 i32.and local.set $state
      block $halt
        loop $run
          local.get $steps i32.const 1 i32.add local.tee $steps i32.const 50 i32.gt_u br_if $halt
          block $s2 block $s1 block $s0
            local.get $state br_table $s0 $s1 $s2 $halt
          end
          i32.const 1 local.set $state br $run
          end
          local.get $x local.get $steps i32.and i32.const 2 i32.add local.set $state br $run
          end
          i32.const 0 local.set $state
          local.get $x i32.const 1 i32.shr_u local.tee $x i32.eqz br_if $halt
          br $run
        end
      end
      local.get $steps local.get $x i32.add))`,
  globals: `(module
    (import "env" "g" (global $imported i32))
    (global $g (mut i32) (i32.const 0))
    (global $h (mut i64) (i64.const 5))
    (global $k i32 (i32.add (global.get $imported) (i32.const 3)))
    (func (export "bump") (param $x i32) (result i32)
      global.get $g local.get $x i32.add global.set $g
      global.get $h i64.const 3 i64.mul global.set $h
      global.get $g global.get $h i32.wrap_i64 i32.xor global.get $k i32.add))`,
  tables: `(module
    (type $op (func (param i32) (result i32)))
    (table 4 funcref) (elem (i32.const 0) $inc $dbl $neg)
    (func $inc (type $op) local.get 0 i32.const 1 i32.add)
    (func $dbl (type $op) local.get 0 i32.const 1 i32.shl)
    (func $neg (type $op) i32.const 0 local.get 0 i32.sub)
    (func (export "dispatch") (param $x i32) (result i32)
      local.get $x local.get $x i32.const 3 i32.and call_indirect (type $op))
    (func (export "dispatch8") (param $x i32) (result i32)
      local.get $x local.get $x i32.const 7 i32.and call_indirect (type $op))
    (func (export "tail") (param $x i32) (result i32)
      local.get $x local.get $x i32.const 1 i32.and return_call_indirect (type $op)))`,
  simd: `(module (memory 1)
    (func (export "simd") (param $x i32) (result i32) (local $v v128)
      local.get $x i32x4.splat
      v128.const i32x4 1 2 3 4
      i32x4.add
      v128.const i32x4 5 6 7 8
      i32x4.mul
      local.tee $v
      local.get $v
      i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
      i32x4.extract_lane 1
      local.get $v i32x4.extract_lane 3
      i32.add
      i32.const 16 local.get $v v128.store
      i32.const 16 v128.load32_zero offset=4
      i32x4.extract_lane 0 i32.add
      i32.const 48 local.get $v v128.store64_lane 1
      i32.const 48 i64.load i32.wrap_i64 i32.add
      i32.const 16 local.get $v v128.load8_lane offset=2 7
      i8x16.extract_lane_u 7 i32.add
      local.get $x i8x16.splat i8x16.popcnt i8x16.bitmask i32.add
      local.get $x f32.convert_i32_s f32x4.splat f32x4.sqrt i32x4.trunc_sat_f32x4_s
      i32x4.extract_lane 2 i32.add
      local.get $x i16x8.splat v128.const i16x8 1 -1 2 -2 3 -3 4 -4 i16x8.q15mulr_sat_s
      i16x8.extract_lane_s 5 i32.add
      local.get $x i32x4.splat i64x2.extend_high_i32x4_s i64x2.bitmask i32.add
      i32.const 0 v128.load8x8_s i16x8.extadd_pairwise_i8x16_s v128.any_true i32.add))`,
  bulk: `(module (memory 1) (data $d "0123456789abcdef")
    (func (export "bulk") (param $x i32) (result i32) (local $n i32)
      local.get $x i32.const 15 i32.and local.set $n
      i32.const 100 i32.const 0 local.get $n memory.init $d
      i32.const 200 local.get $x i32.const 255 i32.and local.get $n memory.fill
      i32.const 300 i32.const 100 local.get $n i32.const 2 i32.mul memory.copy
      i32.const 300 i32.load i32.const 304 i32.load i32.xor i32.const 200 i32.load i32.add)
    (func (export "oob_fill") (param $x i32) (result i32)
      local.get $x i32.const 0 i32.const 100 memory.fill i32.const 0)
    (func (export "zz_drop_then_init") (param $x i32) (result i32)
      data.drop $d
      i32.const 0 i32.const 0 local.get $x i32.const 1 i32.and memory.init $d
      i32.const 1))`,
  numeric: `(module
    (func (export "signext") (param $x i32) (result i32)
      local.get $x i32.extend8_s local.get $x i32.extend16_s i32.add
      local.get $x i64.extend_i32_u i64.extend32_s i64.extend16_s i64.extend8_s i32.wrap_i64 i32.xor)
    (func (export "sat") (param $x i32) (result i32)
      local.get $x f64.convert_i32_s f64.const 1e10 f64.mul i32.trunc_sat_f64_s
      local.get $x f32.convert_i32_s f32.const -3.5 f32.mul i32.trunc_sat_f32_u i32.add
      local.get $x f64.convert_i32_s f64.const 0 f64.div i64.trunc_sat_f64_s i32.wrap_i64 i32.add)
    (func (export "trunc_trap") (param $x i32) (result i32)
      local.get $x f64.convert_i32_s f64.const 1e10 f64.mul i32.trunc_f64_s)
    (func (export "div") (param $x i32) (result i32) i32.const 100 local.get $x i32.div_s)
    (func (export "ovf") (param $x i32) (result i32) i32.const 0x80000000 local.get $x i32.div_s)
    (func (export "maybe") (param $x i32) (result i32)
      local.get $x i32.const 5 i32.eq if unreachable end local.get $x))`,
  multi_value: `(module
    (func $divmod (param $a i32) (param $b i32) (result i32 i32)
      local.get $a local.get $b i32.div_u local.get $a local.get $b i32.rem_u)
    (func (export "mv") (param $x i32) (result i32)
      local.get $x
      block (param i32) (result i32 i32) i32.const 7 end
      call $divmod
      i32.mul
      local.get $x
      loop (param i32) (result i32) i32.const 1 i32.add end
      i32.add
      local.get $x
      if (param i32) (result i32 i32) i32.const 1 else i32.const 2 end
      i32.add)
    (func (export "pair") (param $x i32) (result i32 i32) local.get $x i32.const 3 call $divmod))`,
  references: `(module
    (type $r (func (result i32)))
    (table $t 4 10 funcref)
    (table $e 2 externref)
    (elem declare func $f1 $f2)
    (func $f1 (result i32) i32.const 11)
    (func $f2 (result i32) i32.const 22)
    (func (export "refs") (param $x i32) (result i32)
      (table.set $t (i32.const 0) (ref.func $f1))
      (table.set $t (i32.const 1) (ref.func $f2))
      (table.fill $t (i32.const 2) (ref.null func) (i32.const 2))
      (i32.add
        (call_indirect $t (type $r) (i32.and (local.get $x) (i32.const 1)))
        (i32.add (table.size $t)
          (i32.add (ref.is_null (table.get $t (i32.const 3)))
            (select (result i32) (i32.const 100) (i32.const 200) (local.get $x))))))
    (func (export "typedsel") (param $x i32) (result i32)
      (ref.is_null (select (result funcref) (ref.func $f1) (ref.null func) (local.get $x))))
    (func (export "externs") (param $x i32) (result i32)
      (table.set $e (i32.const 0) (ref.null extern))
      (ref.is_null (table.get $e (i32.and (local.get $x) (i32.const 3)))))
    (func (export "tcopy") (param $x i32) (result i32)
      (table.copy $t $t (i32.const 0) (i32.const 1) (i32.and (local.get $x) (i32.const 7)))
      (ref.is_null (table.get $t (i32.const 0))))
    (func (export "zz_grow") (param $x i32) (result i32)
      (table.grow $t (ref.null func) (i32.and (local.get $x) (i32.const 3)))))`,
  memory: `(module (memory 1 8)
    (func (export "grow") (param $x i32) (result i32)
      local.get $x i32.const 3 i32.and memory.grow
      memory.size i32.const 16 i32.shl i32.add)
    (func (export "load") (param $x i32) (result i32) local.get $x i32.load offset=3))`,
};

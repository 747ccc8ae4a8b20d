;; Extism plugin "upper" (benchmark twin of examples/shout): output = input with ASCII a-z upper-cased, same length.
;; Built by: deno task fixtures   (fixtures/build.ts with npm:wabt; writes the .wasm beside this file)
;;
;; Speaks only the Extism kernel ABI (`extism:host/env`); it has no linear memory of its own.
;; The input is read 8 bytes per host call (input_load_u64), upper-cased in a register with
;; SWAR bit tricks, and written to an output block 8 bytes per host call (store_u64); the last
;; len % 8 bytes go through input_load_u8/store_u8. Offsets are added to the block address
;; returned by `alloc`, which is valid both for the native kernel (plain offsets) and for the
;; JS SDK (block index in the high 16 bits, offset in the low 48).
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u8" (func $input_load_u8 (param i64) (result i32)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))

  ;; Upper-cases the ASCII a-z bytes of 8 packed bytes. Per byte b with h = b & 0x7f:
  ;; h + 0x1f has bit 7 set iff h >= 'a'; h + 0x05 has bit 7 set iff h > 'z' (no carry leaves
  ;; the byte since h <= 0x7f). Keep bit 7 where h >= 'a', not h > 'z', and b < 0x80, then
  ;; shift it down to bit 5 (0x20) and clear that bit.
  (func $upper8 (param $x i64) (result i64)
    (local $h i64)
    (local.set $h (i64.and (local.get $x) (i64.const 0x7f7f7f7f7f7f7f7f)))
    (i64.xor
      (local.get $x)
      (i64.shr_u
        (i64.and
          (i64.and
            (i64.add (local.get $h) (i64.const 0x1f1f1f1f1f1f1f1f))
            (i64.xor (i64.add (local.get $h) (i64.const 0x0505050505050505)) (i64.const -1)))
          (i64.and (i64.xor (local.get $x) (i64.const -1)) (i64.const 0x8080808080808080)))
        (i64.const 2))))

  (func (export "upper") (result i32)
    (local $len i64) (local $out i64) (local $i i64) (local $words i64) (local $c i32)
    (local.set $len (call $input_length))
    (local.set $out (call $alloc (local.get $len)))
    (local.set $words (i64.and (local.get $len) (i64.const -8)))
    ;; 8-byte chunks
    (block $done8
      (loop $chunk
        (br_if $done8 (i64.ge_u (local.get $i) (local.get $words)))
        (call $store_u64
          (i64.add (local.get $out) (local.get $i))
          (call $upper8 (call $input_load_u64 (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $chunk)))
    ;; tail bytes
    (block $done1
      (loop $byte
        (br_if $done1 (i64.ge_u (local.get $i) (local.get $len)))
        (local.set $c (call $input_load_u8 (local.get $i)))
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (local.set $c (i32.xor (local.get $c) (i32.const 32)))))
        (call $store_u8 (i64.add (local.get $out) (local.get $i)) (local.get $c))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $byte)))
    (call $output_set (local.get $out) (local.get $len))
    (i32.const 0)))

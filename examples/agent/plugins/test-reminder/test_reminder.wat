;; Example plugin "test-reminder": post_tool_use (match = "Write|Edit") appends a "reminder" item through
;; the durable sink handle its envelope carries (gn_sink_append, capability "sink"); no body.
;; Built by: deno task fixtures   (fixtures/build.ts with npm:wabt; writes the .wasm beside this file)
(module
  (import "env" "gn_sink_append" (func $sink_append (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 8192))
  (global $live (mut i32) (i32.const 0))
  ;; a bump allocator that starts over once everything is freed
  (func $alloc (export "gn_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $need i32)
    (local.set $p (global.get $top))
    (local.set $end (i32.add (local.get $p) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    (local.set $need (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then (return (i32.const 0))))))
    (global.set $top (local.get $end))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $p))
  (func (export "gn_free") (param $ptr i32) (param $size i32)
    (if (i32.gt_s (global.get $live) (i32.const 0)) (then (global.set $live (i32.sub (global.get $live) (i32.const 1)))))
    (if (i32.eqz (global.get $live)) (then (global.set $top (i32.const 8192)))))
  ;; address of the first [n, n+nl) inside [h, h+hl), or -1
  (func $find (param $h i32) (param $hl i32) (param $n i32) (param $nl i32) (result i32)
    (local $i i32) (local $j i32) (local $last i32)
    (if (i32.gt_u (local.get $nl) (local.get $hl)) (then (return (i32.const -1))))
    (local.set $last (i32.add (local.get $h) (i32.sub (local.get $hl) (local.get $nl))))
    (local.set $i (local.get $h))
    (block $none
      (loop $outer
        (br_if $none (i32.gt_u (local.get $i) (local.get $last)))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (if (i32.ge_u (local.get $j) (local.get $nl)) (then (return (local.get $i))))
            (br_if $miss (i32.ne (i32.load8_u (i32.add (local.get $i) (local.get $j)))
                                 (i32.load8_u (i32.add (local.get $n) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const -1))
  ;; copies [src, src+len) to dst; returns dst+len
  (func $put (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $len))
    (i32.add (local.get $dst) (local.get $len)))
  ;; (ptr << 32) | len
  (func $pack (param $p i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  ;; a copy of [src, src+len) in memory from gn_alloc, packed; (0, -2) when out of memory
  (func $answer (param $src i32) (param $len i32) (result i64)
    (local $p i32)
    (local.set $p (call $alloc (local.get $len)))
    (if (i32.eqz (local.get $p)) (then (return (i64.const 4294967294))))
    (drop (call $put (local.get $p) (local.get $src) (local.get $len)))
    (call $pack (local.get $p) (local.get $len)))
  (data (i32.const 256) "reminder")  ;; 8 bytes
  (data (i32.const 288) "A file changed: run `deno task test` before you commit.")  ;; 55 bytes
  ;; the decimal handle at [p, ...) of the envelope
  (func $number (param $p i32) (param $end i32) (result i32)
    (local $v i32) (local $c i32)
    (block $done
      (loop $digits
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digits)))
    (local.get $v))
  (func (export "gn_handle_hook") (param $np i32) (param $nl i32) (param $pp i32) (param $pl i32) (result i64)
    (local $status i32)
    ;; {"kind":"guard","handles":{"sink":<handle>},...: the handle's digits start at byte 34
    (local.set $status
      (call $sink_append
        (call $number (i32.add (local.get $pp) (i32.const 34)) (i32.add (local.get $pp) (local.get $pl)))
        (i32.const 256) (i32.const 8) (i32.const 288) (i32.const 55)))
    ;; a refused append is this call's failure (status -1: guest_error)
    (if (i32.ne (local.get $status) (i32.const 0)) (then (return (i64.const 4294967295))))
    (i64.const 0))
)

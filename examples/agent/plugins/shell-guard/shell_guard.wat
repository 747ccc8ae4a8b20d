;; Example plugin "shell-guard": pre_tool_use (match = "Bash") blocks destructive shell commands by rule:
;; an envelope holding "rm -rf", "mkfs", "dd if=" or "git push --force" is answered block, naming the rule;
;; anything else gets no body (continue).
;; Built by: deno task fixtures   (fixtures/build.ts with npm:wabt; writes the .wasm beside this file)
(module
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
  (data (i32.const 512) "{\"decision\":\"block\",\"reason\":\"destructive shell command (rule: ")  ;; 63 bytes
  (data (i32.const 640) ")\"}")  ;; 3 bytes
  (data (i32.const 256) "rm -rf")  ;; 6 bytes
  (data (i32.const 288) "mkfs")  ;; 4 bytes
  (data (i32.const 320) "dd if=")  ;; 6 bytes
  (data (i32.const 352) "git push --force")  ;; 16 bytes
  ;; the block answer naming the rule, if the envelope holds its pattern; 0 (continue) otherwise
  (func $rule (param $pp i32) (param $pl i32) (param $r i32) (param $rl i32) (result i64)
    (local $out i32) (local $end i32)
    (if (i32.lt_s (call $find (local.get $pp) (local.get $pl) (local.get $r) (local.get $rl)) (i32.const 0))
      (then (return (i64.const 0))))
    (local.set $out (call $alloc (i32.const 256)))
    (if (i32.eqz (local.get $out)) (then (return (i64.const 4294967294))))
    (local.set $end (call $put (local.get $out) (i32.const 512) (i32.const 63)))
    (local.set $end (call $put (local.get $end) (local.get $r) (local.get $rl)))
    (local.set $end (call $put (local.get $end) (i32.const 640) (i32.const 3)))
    (call $pack (local.get $out) (i32.sub (local.get $end) (local.get $out))))
  (func (export "gn_handle_hook") (param $np i32) (param $nl i32) (param $pp i32) (param $pl i32) (result i64)
    (local $r i64)
    (local.set $r (call $rule (local.get $pp) (local.get $pl) (i32.const 256) (i32.const 6)))
    (if (i64.ne (local.get $r) (i64.const 0)) (then (return (local.get $r))))
    (local.set $r (call $rule (local.get $pp) (local.get $pl) (i32.const 288) (i32.const 4)))
    (if (i64.ne (local.get $r) (i64.const 0)) (then (return (local.get $r))))
    (local.set $r (call $rule (local.get $pp) (local.get $pl) (i32.const 320) (i32.const 6)))
    (if (i64.ne (local.get $r) (i64.const 0)) (then (return (local.get $r))))
    (local.set $r (call $rule (local.get $pp) (local.get $pl) (i32.const 352) (i32.const 16)))
    (if (i64.ne (local.get $r) (i64.const 0)) (then (return (local.get $r))))
    (i64.const 0))
)

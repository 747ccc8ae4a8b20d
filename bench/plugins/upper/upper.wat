;; The benchmark's upper-casing filter: the same logic as examples/shout (upper-case the ASCII
;; letters of a string value; escapes copied verbatim), written for speed: 8 bytes at a time
;; (SWAR) while a word holds no quote or backslash, a byte loop otherwise.
;; Built by: deno task fixtures   (fixtures/build.ts with npm:wabt; writes the .wasm beside this file)
(module
  (memory (export "memory") 2)
  (global $top (mut i32) (i32.const 4096))
  (global $live (mut i32) (i32.const 0))
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
    (if (i32.eqz (global.get $live)) (then (global.set $top (i32.const 4096)))))

  (func (export "gn_handle_hook") (param $np i32) (param $nl i32) (param $pp i32) (param $pl i32) (result i64)
    (local $i i32) (local $end i32) (local $out i32) (local $o i32) (local $c i32) (local $w i64)
    (local $q i64) (local $b i64) (local $h i64)
    (local.set $end (i32.add (local.get $pp) (local.get $pl)))
    ;; find "value": followed by a quote
    (local.set $i (local.get $pp))
    (block $found
      (loop $scan
        (if (i32.gt_u (i32.add (local.get $i) (i32.const 9)) (local.get $end))
          (then (return (i64.const 0x00000000_FFFFFFFD))))
        (br_if $found
          (i32.and
            (i64.eq (i64.load (local.get $i)) (i64.const 0x3a2265756c617622))
            (i32.eq (i32.load8_u offset=8 (local.get $i)) (i32.const 34))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $i (i32.add (local.get $i) (i32.const 9)))
    ;; the body is at most {"value":" + the rest of the payload + "}
    (local.set $out (call $alloc (i32.add (i32.sub (local.get $end) (local.get $i)) (i32.const 16))))
    (if (i32.eqz (local.get $out)) (then (return (i64.const 0x00000000_FFFFFFFE))))
    (i64.store (local.get $out) (i64.const 0x756c617622227b))  ;; {"valu (7 bytes, then overwritten)
    (i32.store8 (local.get $out) (i32.const 123))
    (i64.store offset=1 (local.get $out) (i64.const 0x3a2265756c617622))
    (i32.store8 offset=9 (local.get $out) (i32.const 34))
    (local.set $o (i32.add (local.get $out) (i32.const 10)))
    (block $done
      (loop $words
        (if (i32.le_u (i32.add (local.get $i) (i32.const 8)) (local.get $end))
          (then
            (local.set $w (i64.load (local.get $i)))
            ;; no quote (0x22) and no backslash (0x5c) in the word: upper-case it whole
            (local.set $q (i64.xor (local.get $w) (i64.const 0x2222222222222222)))
            (local.set $b (i64.xor (local.get $w) (i64.const 0x5c5c5c5c5c5c5c5c)))
            (if (i64.eqz
                  (i64.and
                    (i64.or
                      (i64.and (i64.sub (local.get $q) (i64.const 0x0101010101010101))
                               (i64.xor (local.get $q) (i64.const -1)))
                      (i64.and (i64.sub (local.get $b) (i64.const 0x0101010101010101))
                               (i64.xor (local.get $b) (i64.const -1))))
                    (i64.const 0x8080808080808080)))
              (then
                (local.set $h (i64.and (local.get $w) (i64.const 0x7f7f7f7f7f7f7f7f)))
                (i64.store (local.get $o)
                  (i64.xor (local.get $w)
                    (i64.shr_u
                      (i64.and
                        (i64.and
                          (i64.add (local.get $h) (i64.const 0x1f1f1f1f1f1f1f1f))
                          (i64.xor (i64.add (local.get $h) (i64.const 0x0505050505050505)) (i64.const -1)))
                        (i64.and (i64.xor (local.get $w) (i64.const -1)) (i64.const 0x8080808080808080)))
                      (i64.const 2))))
                (local.set $i (i32.add (local.get $i) (i32.const 8)))
                (local.set $o (i32.add (local.get $o) (i32.const 8)))
                (br $words)))))
        ;; byte by byte until the next clean word
        (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i64.const 0x00000000_FFFFFFFD))))
        (local.set $c (i32.load8_u (local.get $i)))
        (br_if $done (i32.eq (local.get $c) (i32.const 34)))
        (if (i32.eq (local.get $c) (i32.const 92))
          (then
            (if (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end))
              (then (return (i64.const 0x00000000_FFFFFFFD))))
            (i32.store16 (local.get $o) (i32.load16_u (local.get $i)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))
            (br $words)))
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
        (i32.store8 (local.get $o) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $words)))
    (i32.store16 (local.get $o) (i32.const 0x7d22))
    (local.set $o (i32.add (local.get $o) (i32.const 2)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $o) (local.get $out)))))
)

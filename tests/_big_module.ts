/**
 * A large, valid plugin module built by hand, for the load-time stall tests.
 *
 * @module
 */

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>>= 7;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
}

function section(id: number, body: number[] | Uint8Array): Uint8Array {
  const len = leb(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = id;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...leb(b.length), ...b];
}

/**
 * A valid plugin of about `size` bytes: the ABI exports (`gn_handle_hook` answers no body) and
 * 64 KiB functions of `i32.const 1; if; end` blocks (a branch each, so the meter has work).
 * `allocExport` renames the `gn_alloc` export (to build a module the check refuses); `variant`
 * (0..63) changes a constant, for modules of another digest.
 */
export function bigModule(
  size: number,
  allocExport = "gn_alloc",
  variant = 0,
): Uint8Array<ArrayBuffer> {
  const perFn = 64 * 1024;
  const k = Math.ceil(size / perFn);
  const types = [4, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 0];
  types.push(0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7e, 0x60, 0, 0);
  const funcs = [...leb(3 + k), 0, 1, 2, ...new Array(k).fill(3)];
  const exports = [4, ...name("memory"), 2, 0, ...name(allocExport), 0, 0];
  exports.push(...name("gn_free"), 0, 1, ...name("gn_handle_hook"), 0, 2);
  const blocks = Math.floor((perFn - 8) / 5);
  const filler = new Uint8Array(blocks * 5 + 2); // no locals, the blocks, end
  for (let i = 0; i < blocks; i++) filler.set([0x41, 0x01, 0x04, 0x40, 0x0b], 1 + i * 5);
  filler[filler.length - 1] = 0x0b;
  const sized = (b: ArrayLike<number>) => new Uint8Array([...leb(b.length), ...Array.from(b)]);
  const fillerBody = new Uint8Array([...leb(filler.length), ...filler]);
  const bodies = [
    sized([0, 0x41, ...leb(1024 + 8 * (variant & 63)), 0x0b]), // gn_alloc: a constant
    sized([0, 0x0b]),
    sized([0, 0x42, 0, 0x0b]),
  ];
  for (let i = 0; i < k; i++) bodies.push(fillerBody);
  const code = [new Uint8Array(leb(3 + k)), ...bodies];
  const codeBytes = new Uint8Array(code.reduce((n, b) => n + b.length, 0));
  code.reduce((at, b) => (codeBytes.set(b, at), at + b.length), 0);
  const parts = [
    new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    section(1, types),
    section(3, funcs),
    section(5, [1, 0, 1]),
    section(7, exports),
    section(10, codeBytes),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

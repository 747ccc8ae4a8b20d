/**
 * The meter's byte writer: a growable buffer with the LEB128 encoders of the
 * binary format (reading is `wasm/`'s).
 *
 * @module
 */

/** A growable byte buffer with the LEB128 encoders of the binary format. */
export class ByteWriter {
  #buf: Uint8Array<ArrayBuffer>;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** Appends one byte. */
  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  /** Appends bytes verbatim. */
  bytes(src: Uint8Array): void {
    this.#reserve(src.length);
    this.#buf.set(src, this.#len);
    this.#len += src.length;
  }

  /** Appends `src[start, end)` (short ranges without allocating a view). */
  range(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.#reserve(n);
    if (n > 64) {
      this.#buf.set(src.subarray(start, end), this.#len);
      this.#len += n;
      return;
    }
    const buf = this.#buf;
    let len = this.#len;
    for (let i = start; i < end; i++) buf[len++] = src[i];
    this.#len = len;
  }

  /** Forgets what was written, keeping the storage. */
  reset(): void {
    this.#len = 0;
  }

  /** The bytes written, without copying: valid until the next write. */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** Appends an unsigned LEB128 integer (0 ≤ v < 2³²). */
  u32(v: number): void {
    this.#reserve(5);
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.#buf[this.#len++] = b;
    } while (v !== 0);
  }

  /** Appends a signed LEB128 integer (an i64 immediate). */
  s64(v: bigint): void {
    this.#reserve(10);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.#buf[this.#len++] = done ? b : b | 0x80;
      if (done) return;
    }
  }

  /** Appends a signed LEB128 integer from a non-negative safe integer (fast path of `s64`). */
  sNonNegative(v: number): void {
    this.#reserve(8);
    for (;;) {
      const b = v % 128;
      v = Math.floor(v / 128);
      const done = v === 0 && (b & 0x40) === 0;
      this.#buf[this.#len++] = done ? b : b | 0x80;
      if (done) return;
    }
  }

  /** Appends a name: its UTF-8 length then its bytes. */
  name(s: string): void {
    const utf8 = new TextEncoder().encode(s);
    this.u32(utf8.length);
    this.bytes(utf8);
  }

  /** Appends `content` as a section: id, size, content. */
  section(id: number, content: Uint8Array): void {
    this.byte(id);
    this.u32(content.length);
    this.bytes(content);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }
}

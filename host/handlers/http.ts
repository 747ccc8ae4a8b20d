/**
 * HTTP handlers: a hook handled by a POST to a web hook, outside the sandbox.
 *
 * The request carries the hook context as JSON. Only hosts on the embedding
 * application's allow-list are reached; a redirect is followed only to the
 * same scheme, host and port (at most 3 times), any other is refused; the
 * whole exchange has a deadline, and the response body is read as a stream
 * and abandoned at the cap.
 *
 * Needs `--allow-net=<host:port>` for each allowed host.
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";

/** Default cap of a response body: 1 MiB. */
export const DEFAULT_HTTP_RESPONSE_CAP = 1024 * 1024;

/** Default deadline of one request, in ms. */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

/** Most same-host redirects followed. */
const MAX_REDIRECTS = 3;

/** What to post, and how. */
export interface HttpSpec {
  /** The web hook's URL, `http:` or `https:`. */
  url: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** Deadline in ms, covering connection, redirects and body. @default {DEFAULT_HTTP_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Cap of the response body, in bytes. @default {DEFAULT_HTTP_RESPONSE_CAP} */
  maxResponseBytes?: number;
  /** How to name the handler in messages. */
  who: string;
  /** Aborting it abandons the request; the call fails with `closed`. */
  signal?: AbortSignal;
}

/**
 * The `host:port` of a URL, with the scheme's default port filled in: what
 * the allow-list holds.
 *
 * @param url An `http:` or `https:` URL.
 * @returns E.g. `"hooks.internal:8443"`.
 * @throws {TypeError} For a URL that does not parse or another scheme.
 *
 * @example
 * ```ts
 * import { hostPort } from "./http.ts";
 * import assert from "node:assert/strict";
 * assert.equal(hostPort("https://hooks.internal/x"), "hooks.internal:443");
 * assert.equal(hostPort("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
 * ```
 */
export function hostPort(url: string | URL): string {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`Cannot use URL ${JSON.stringify(String(url))}: not http: or https:`);
  }
  return `${u.hostname}:${u.port === "" ? (u.protocol === "https:" ? "443" : "80") : u.port}`;
}

/**
 * Posts `input` and returns the response body text.
 *
 * @param spec The URL, deadline and cap.
 * @param input The hook context, already JSON text.
 * @returns The body, decoded as UTF-8.
 * @throws {HookError} `timeout`, `response_too_large`, `bad_response` (body
 * not UTF-8), `http_failed` (connection failure, a status other than 2xx, a
 * redirect to another host or too many), `permission_required` (no
 * `--allow-net` for the host), `closed` (`spec.signal` aborted).
 *
 * @example Posting to a local web hook
 * ```ts ignore
 * import { postHook } from "./http.ts";
 * const body = await postHook({ url: "http://127.0.0.1:8080/hook", who: "demo" }, "{}");
 * ```
 */
export async function postHook(spec: HttpSpec, input: string): Promise<string> {
  const cap = spec.maxResponseBytes ?? DEFAULT_HTTP_RESPONSE_CAP;
  const timeoutMs = spec.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const ctl = new AbortController();
  const timeout = new HookError(
    "timeout",
    `Cannot post to ${spec.who}: no complete answer within ${timeoutMs} ms; the request was ` +
      "abandoned (raise timeout_ms in its hook definition if it needs longer)",
  );
  const timer = setTimeout(() => ctl.abort(timeout), timeoutMs);
  const closed = new HookError(
    "closed",
    `Cannot post to ${spec.who}: the host closed; the request was abandoned`,
  );
  const onAbort = () => ctl.abort(closed);
  if (spec.signal?.aborted) {
    clearTimeout(timer);
    throw closed;
  }
  spec.signal?.addEventListener("abort", onAbort, { once: true });
  const origin = new URL(spec.url);
  let url = origin;
  try {
    for (let hops = 0;; hops++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          body: input,
          headers: { ...spec.headers, "content-type": "application/json" },
          redirect: "manual",
          signal: ctl.signal,
        });
      } catch (cause) {
        if (ctl.signal.aborted) throw ctl.signal.reason;
        if (
          cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied
        ) {
          throw new HookError(
            "permission_required",
            `Cannot post to ${spec.who}: the host may not connect to ${hostPort(url)}; run Deno ` +
              `with --allow-net=${hostPort(url)}`,
            { cause },
          );
        }
        throw new HookError(
          "http_failed",
          `Cannot post to ${spec.who} (${url.href}): ${(cause as Error).message}; check that the ` +
            "web hook is up and reachable",
          { cause },
        );
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => {});
        const location = res.headers.get("location");
        let next: URL | undefined;
        try {
          next = location === null ? undefined : new URL(location, url);
        } catch {
          next = undefined;
        }
        if (
          next === undefined || next.protocol !== origin.protocol || next.host !== origin.host ||
          hops >= MAX_REDIRECTS
        ) {
          throw new HookError(
            "http_failed",
            `Cannot post to ${spec.who} (${url.href}): it redirected (${res.status}) to ${
              JSON.stringify(location)
            }, ${
              hops >= MAX_REDIRECTS
                ? `more than ${MAX_REDIRECTS} redirects`
                : "another host, scheme or port, which is never followed"
            }; configure the final URL in the hook definition`,
            { status: res.status },
          );
        }
        url = next;
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new HookError(
          "http_failed",
          `Web hook ${spec.who} (${url.href}) answered HTTP ${res.status}; it must answer 2xx ` +
            "with a verdict in the body",
          { status: res.status },
        );
      }
      const bytes = await readCapped(res, cap, spec.who, ctl);
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch (cause) {
        throw new HookError(
          "bad_response",
          `Cannot read the answer of ${spec.who}: the body is not valid UTF-8`,
          { cause },
        );
      }
    }
  } finally {
    clearTimeout(timer);
    spec.signal?.removeEventListener("abort", onAbort);
  }
}

async function readCapped(
  res: Response,
  cap: number,
  who: string,
  ctl: AbortController,
): Promise<Uint8Array> {
  const length = Number(res.headers.get("content-length") ?? NaN);
  const tooLarge = () =>
    new HookError(
      "response_too_large",
      `Cannot read the answer of ${who}: the body is over ${cap} bytes; nothing of it is used ` +
        "(answer a short verdict)",
    );
  if (res.body === null) return new Uint8Array();
  if (length > cap) {
    await res.body.cancel().catch(() => {});
    throw tooLarge();
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (cause) {
        if (ctl.signal.aborted) throw ctl.signal.reason;
        throw new HookError("http_failed", `Cannot read the answer of ${who}: ${cause}`, {
          cause,
        });
      }
      if (r.done) break;
      total += r.value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { blake3 } from "hash-wasm";
import { TomlError } from "smol-toml";
import { HookError, type HookErrorCode } from "../../abi/errors.ts";
import {
  checkGrants,
  clampLimits,
  DEFAULT_LIMITS,
  DEFAULT_MAX_MODULE_BYTES,
  HOST_CEILINGS,
  type Manifest,
  manifestJsonSchema,
  parseManifest,
  readManifest,
} from "./mod.ts";

const FILE = "plugins/demo/plugin.toml";
const ZERO_DIGEST = "blake3:" + "0".repeat(64);
/** The smallest valid WebAssembly module: magic and version. */
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/**
 * A manifest's text: the top-level keys (raw TOML values; `undefined` leaves
 * a key out), then `tail` (tables).
 */
function toml(
  top: Record<string, string | undefined> = {},
  tail = '[[hooks]]\nname = "the_content"\nkind = "filter"\n',
): string {
  const fields: Record<string, string | undefined> = {
    name: '"demo"',
    version: '"1.0.0"',
    abi: "1",
    module: '"demo.wasm"',
    digest: JSON.stringify(ZERO_DIGEST),
    ...top,
  };
  const lines = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key} = ${value}`);
  return lines.join("\n") + "\n\n" + tail;
}

/** Asserts a refusal: its code, and that its message names the file and key. */
function assertRefusal(
  error: unknown,
  code: HookErrorCode,
  file: string,
  key: string,
  ...fragments: string[]
): HookError {
  assert.ok(error instanceof HookError, `expected a HookError, got ${error}`);
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.includes(JSON.stringify(file)), `file not named: ${error.message}`);
  assert.ok(error.message.includes(`key "${key}"`), `key "${key}" not named: ${error.message}`);
  for (const fragment of fragments) {
    assert.ok(error.message.includes(fragment), `"${fragment}" missing: ${error.message}`);
  }
  return error;
}

function parseError(text: string, file = FILE): unknown {
  try {
    parseManifest(text, file);
  } catch (e) {
    return e;
  }
  assert.fail("expected parseManifest() to throw");
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  return `blake3:${await blake3(bytes)}`;
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gn_manifest_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `<dir>/demo/plugin.toml` and `<dir>/demo/demo.wasm`; returns the manifest path. */
async function writePlugin(
  dir: string,
  top: Record<string, string | undefined> = {},
  bytes: Uint8Array = WASM,
): Promise<string> {
  const folder = join(dir, "demo");
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeFile(join(folder, "demo.wasm"), bytes);
  const path = join(folder, "plugin.toml");
  await Deno.writeTextFile(
    path,
    toml({ digest: JSON.stringify(await digestOf(bytes)), ...top }),
  );
  return path;
}

// ---------------------------------------------------------------------------
// parseManifest: valid input

Deno.test("parseManifest() returns a typed manifest with every field", () => {
  const manifest = parseManifest(
    toml(
      { capabilities: '["log", "clock", "state", "emit", "fuel"]', version: '"1.2.3-rc.1+b.7"' },
      `
[limits]
memory_pages = 32
fuel = 10_000_000
timeout_ms = 250
instances = 2

[[hooks]]
name = "the_content"
kind = "filter"
priority = -5
fail = "block"

[[hooks]]
name = "post.saved"
kind = "action"

[[hooks]]
name = "comment.before_insert"
kind = "guard"
fail = "ignore"
`,
    ),
    FILE,
  );
  const expected: Manifest = {
    name: "demo",
    version: "1.2.3-rc.1+b.7",
    abi: 1,
    module: "demo.wasm",
    digest: ZERO_DIGEST,
    capabilities: ["log", "clock", "state", "emit", "fuel"],
    limits: { memoryPages: 32, fuel: 10_000_000, timeoutMs: 250, instances: 2 },
    hooks: [
      { name: "the_content", kind: "filter", priority: -5, fail: "block" },
      { name: "post.saved", kind: "action", priority: 10, fail: "warn" },
      { name: "comment.before_insert", kind: "guard", priority: 10, fail: "ignore" },
    ],
  };
  assert.deepEqual(manifest, expected);
});

Deno.test("parseManifest() fills in defaults", () => {
  const manifest = parseManifest(toml(), FILE);
  assert.deepEqual(manifest.capabilities, []);
  assert.deepEqual(manifest.limits, {});
  assert.deepEqual(manifest.hooks, [
    { name: "the_content", kind: "filter", priority: 10, fail: "warn" },
  ]);
});

Deno.test("parseManifest(): a guard fails closed (block) unless its manifest says otherwise", () => {
  const hooks = (tail: string) => parseManifest(toml({}, tail), FILE).hooks.map((h) => h.fail);
  const hook = (name: string, kind: string, fail = "") =>
    `[[hooks]]\nname = "${name}"\nkind = "${kind}"\n${fail ? `fail = "${fail}"\n` : ""}`;
  assert.deepEqual(
    hooks(hook("a", "guard") + hook("b", "filter") + hook("c", "action")),
    ["block", "warn", "warn"],
  );
  assert.deepEqual(hooks(hook("a", "guard", "warn") + hook("b", "guard", "ignore")), [
    "warn",
    "ignore",
  ]);
});

Deno.test("parseManifest() accepts every valid semantic version form", () => {
  for (
    const version of [
      "0.0.0",
      "1.0.0",
      "10.20.30",
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-0.3.7",
      "1.0.0-x.7.z.92",
      "1.0.0-x-y-z.--",
      "1.0.0-0A.is.legal",
      "1.0.0+20130313144700",
      "1.0.0-beta+exp.sha.5114f85",
      "1.0.0+21AF26D3----117B344092BD",
      "1.0.0+001",
    ]
  ) {
    assert.equal(parseManifest(toml({ version: JSON.stringify(version) }), FILE).version, version);
  }
});

Deno.test("parseManifest() accepts limits at the edges of their ranges", () => {
  const manifest = parseManifest(
    toml(
      {},
      "[limits]\nmemory_pages = 65536\ntable_elements = 10_000_000\nfuel = 9007199254740991\n" +
        "timeout_ms = 2147483647\n" +
        '[[hooks]]\nname = "a"\nkind = "action"\n',
    ),
    FILE,
  );
  assert.deepEqual(manifest.limits, {
    memoryPages: 65536,
    tableElements: 10_000_000,
    fuel: Number.MAX_SAFE_INTEGER,
    timeoutMs: 2147483647,
  });
});

Deno.test("parseManifest() accepts a 256-byte hook name", () => {
  const name = "a".repeat(128) + "." + "b".repeat(127);
  const manifest = parseManifest(toml({}, `[[hooks]]\nname = "${name}"\nkind = "action"\n`), FILE);
  assert.equal(manifest.hooks[0].name, name);
});

// ---------------------------------------------------------------------------
// parseManifest: refusals

Deno.test("parseManifest() refuses bad TOML with its line and column", () => {
  const error = parseError('name = "demo"\nversion = = "1.0.0"\n');
  assert.ok(error instanceof HookError);
  assert.equal(error.code, "invalid_manifest");
  assert.ok(error.message.startsWith(`Invalid manifest "${FILE}": TOML syntax error`));
  assert.match(error.message, /line 2, column 11/);
  assert.ok(error.cause instanceof TomlError);
  assert.equal(error.cause.line, 2);
  assert.equal(error.cause.column, 11);
});

Deno.test("parseManifest() refuses a key defined twice as a TOML error", () => {
  const error = parseError('name = "demo"\nname = "other"\n');
  assert.ok(error instanceof HookError);
  assert.equal(error.code, "invalid_manifest");
  assert.match(error.message, /line 2, column 1/);
});

Deno.test("parseManifest() refuses an unknown top-level key", () => {
  assertRefusal(
    parseError(toml({ capability: '["log"]' })),
    "invalid_manifest",
    FILE,
    "capability",
    'unknown key (did you mean "capabilities"?)',
  );
  assertRefusal(parseError(toml({ author: '"me"' })), "invalid_manifest", FILE, "author");
});

Deno.test("parseManifest() refuses an unknown key in [limits]", () => {
  assertRefusal(
    parseError(toml({}, '[limits]\ntimeout = 5\n[[hooks]]\nname = "a"\nkind = "action"\n')),
    "invalid_manifest",
    FILE,
    "limits.timeout",
    'did you mean "timeout_ms"?',
  );
});

Deno.test("parseManifest() refuses an unknown key in [[hooks]]", () => {
  assertRefusal(
    parseError(
      toml(
        {},
        '[[hooks]]\nname = "a"\nkind = "action"\n[[hooks]]\nname = "b"\nkind = "action"\nonce = true\n',
      ),
    ),
    "invalid_manifest",
    FILE,
    "hooks[1].once",
    "unknown key",
  );
});

Deno.test("parseManifest() refuses a missing required key", () => {
  for (const key of ["name", "version", "abi", "module", "digest"]) {
    assertRefusal(
      parseError(toml({ [key]: undefined })),
      "invalid_manifest",
      FILE,
      key,
      "required key is missing",
    );
  }
  assertRefusal(parseError(toml({}, "")), "invalid_manifest", FILE, "hooks", "missing");
});

Deno.test("parseManifest() names the pin tool when the digest is missing or malformed", () => {
  const PIN = "`deno run -A jsr:@gn/plugin-host/cli pin path/to/plugin.toml`";
  for (const digest of [undefined, '"sha256:abc"', "7"]) {
    const error = assertRefusal(
      parseError(toml({ digest })),
      "invalid_manifest",
      FILE,
      "digest",
      PIN,
      "b3sum --no-names <module>",
    );
    assert.equal(error.message.split("\n").length, 1, error.message);
  }
  // Other keys do not get the hint.
  assert.ok(!(parseError(toml({ module: undefined })) as Error).message.includes("pin"));
});

Deno.test("parseManifest() refuses a bad plugin name", () => {
  for (const name of ["a", "Demo", "1demo", "-demo", "de_mo", "de mo", "d".repeat(65), ""]) {
    assertRefusal(
      parseError(toml({ name: JSON.stringify(name) })),
      "invalid_manifest",
      FILE,
      "name",
      "not a plugin name",
    );
  }
  assertRefusal(parseError(toml({ name: "5" })), "invalid_manifest", FILE, "name", "(5)");
});

Deno.test("parseManifest() refuses a bad semantic version", () => {
  for (
    const version of [
      "1.0",
      "1",
      "v1.0.0",
      "01.0.0",
      "1.00.0",
      "1.0.0-",
      "1.0.0-01",
      "1.0.0-alpha..1",
      "1.0.0+",
      "1.0.0+a+b",
      " 1.0.0",
      "1.0.0 ",
      "1.0.0-alpha_beta",
      "",
    ]
  ) {
    assertRefusal(
      parseError(toml({ version: JSON.stringify(version) })),
      "invalid_manifest",
      FILE,
      "version",
      `not a semantic version (${JSON.stringify(version)})`,
    );
  }
  assertRefusal(parseError(toml({ version: "1.0" })), "invalid_manifest", FILE, "version");
});

Deno.test("parseManifest() refuses another ABI version with abi_version", () => {
  for (const abi of ["2", "0", "-1", "99999999999999999999"]) {
    const error = assertRefusal(
      parseError(toml({ abi, unknown_future_key: "1" })),
      "abi_version",
      FILE,
      "abi",
      `version ${abi} is not supported`,
    );
    assert.equal(error.plugin, "demo");
  }
});

Deno.test("parseManifest() refuses a malformed abi with invalid_manifest", () => {
  for (const abi of ['"1"', "1.5", "true"]) {
    assertRefusal(parseError(toml({ abi })), "invalid_manifest", FILE, "abi");
  }
});

Deno.test("parseManifest() refuses a malformed digest", () => {
  for (
    const digest of [
      "blake3:" + "A".repeat(64),
      "blake3:" + "0".repeat(63),
      "blake3:" + "0".repeat(65),
      "sha256:" + "0".repeat(64),
      "0".repeat(64),
      "blake3:" + "g".repeat(64),
    ]
  ) {
    assertRefusal(
      parseError(toml({ digest: JSON.stringify(digest) })),
      "invalid_manifest",
      FILE,
      "digest",
      "not a BLAKE3 digest",
    );
  }
});

Deno.test("parseManifest() refuses a module path that could leave the folder", () => {
  const cases: [string, string][] = [
    ["../x.wasm", '".." segment'],
    ["a/../../x.wasm", '".." segment'],
    ["..", '".." segment'],
    ["/etc/x.wasm", "absolute path"],
    ["//server/x.wasm", "absolute path"],
    ["a\\\\x.wasm", "backslash"],
    ["..\\\\x.wasm", "backslash"],
    ["C:/x.wasm", '":"'],
    ["file:///etc/x.wasm", '":"'],
    ["x.wasm\\u0000.txt", "control character"],
    ["x.wat", '".wasm"'],
    ["", "empty path"],
  ];
  for (const [module, reason] of cases) {
    assertRefusal(
      parseError(toml({ module: `"${module}"` })),
      "invalid_manifest",
      FILE,
      "module",
      reason,
    );
  }
});

Deno.test("parseManifest() accepts a module in a subfolder and with dot segments", () => {
  for (const module of ["sub/demo.wasm", "./demo.wasm", "a/./b/c.wasm", "..a.wasm", "a..b.wasm"]) {
    assert.equal(parseManifest(toml({ module: JSON.stringify(module) }), FILE).module, module);
  }
});

Deno.test("parseManifest() refuses unknown and repeated capabilities", () => {
  assertRefusal(
    parseError(toml({ capabilities: '["log", "net"]' })),
    "invalid_manifest",
    FILE,
    "capabilities[1]",
    '("net")',
  );
  assertRefusal(
    parseError(toml({ capabilities: '["log", "clock", "log"]' })),
    "invalid_manifest",
    FILE,
    "capabilities[2]",
    "duplicate of capabilities[0]",
  );
  assertRefusal(
    parseError(toml({ capabilities: '"log"' })),
    "invalid_manifest",
    FILE,
    "capabilities",
    "not an array",
  );
});

Deno.test("parseManifest() refuses bad hook bindings", () => {
  const cases: [string, string, string][] = [
    ['name = "The_Content"\nkind = "filter"', "hooks[0].name", "not a hook name"],
    ['name = "a..b"\nkind = "filter"', "hooks[0].name", "not a hook name"],
    ['name = "a."\nkind = "filter"', "hooks[0].name", "not a hook name"],
    ['name = ""\nkind = "filter"', "hooks[0].name", "not a hook name"],
    [`name = "${"a".repeat(257)}"\nkind = "filter"`, "hooks[0].name", "not a hook name"],
    ['name = "a"\nkind = "event"', "hooks[0].kind", '("event")'],
    ['name = "a"', "hooks[0].kind", "required key is missing"],
    ['name = "a"\nkind = "action"\npriority = 1.5', "hooks[0].priority", "not an integer"],
    ['name = "a"\nkind = "action"\npriority = "1"', "hooks[0].priority", "not an integer"],
    ['name = "a"\nkind = "action"\nfail = "panic"', "hooks[0].fail", '("panic")'],
  ];
  for (const [body, key, reason] of cases) {
    assertRefusal(
      parseError(toml({}, `[[hooks]]\n${body}\n`)),
      "invalid_manifest",
      FILE,
      key,
      reason,
    );
  }
  assertRefusal(
    parseError(toml({ hooks: "[]" }, "")),
    "invalid_manifest",
    FILE,
    "hooks",
    "no hooks bound",
  );
  assertRefusal(
    parseError(toml({}, '[hooks]\nname = "a"\nkind = "action"\n')),
    "invalid_manifest",
    FILE,
    "hooks",
    "write [[hooks]]",
  );
});

Deno.test("parseManifest() refuses a hook bound twice", () => {
  assertRefusal(
    parseError(
      toml(
        {},
        '[[hooks]]\nname = "a"\nkind = "action"\n' +
          '[[hooks]]\nname = "b"\nkind = "action"\n' +
          '[[hooks]]\nname = "a"\nkind = "filter"\n',
      ),
    ),
    "invalid_manifest",
    FILE,
    "hooks[2].name",
    'duplicate of hooks[0].name ("a")',
  );
});

Deno.test("parseManifest() reports a repeated hook even next to a malformed one", () => {
  const error = parseError(
    toml(
      {},
      '[[hooks]]\nname = "a"\nkind = "action"\n' +
        '[[hooks]]\nname = "a"\nkind = "action"\npriority = 1.5\n',
    ),
  );
  assertRefusal(error, "invalid_manifest", FILE, "hooks[1].priority");
  assertRefusal(error, "invalid_manifest", FILE, "hooks[1].name", "duplicate of hooks[0].name");
});

Deno.test("parseManifest() refuses limits out of range", () => {
  const cases: [string, string, string][] = [
    ["memory_pages = 0", "limits.memory_pages", "not an integer in 1..65536 (0)"],
    ["memory_pages = 65537", "limits.memory_pages", "(65537)"],
    ["table_elements = -1", "limits.table_elements", "not an integer in 0..10000000 (-1)"],
    ["table_elements = 10_000_001", "limits.table_elements", "(10000001)"],
    ["fuel = 0", "limits.fuel", "not an integer in 1..9007199254740991 (0)"],
    ["fuel = 9007199254740992", "limits.fuel", "(9007199254740992)"],
    ["fuel = 99999999999999999999", "limits.fuel", "(99999999999999999999)"],
    ["fuel = 1.5", "limits.fuel", "(1.5)"],
    ["fuel = inf", "limits.fuel", "(Infinity)"],
    ['fuel = "100"', "limits.fuel", '("100")'],
    ["timeout_ms = -1", "limits.timeout_ms", "(-1)"],
    ["timeout_ms = 2147483648", "limits.timeout_ms", "not an integer in 1..2147483647"],
    ["instances = 0", "limits.instances", "(0)"],
  ];
  for (const [line, key, reason] of cases) {
    assertRefusal(
      parseError(toml({}, `[limits]\n${line}\n[[hooks]]\nname = "a"\nkind = "action"\n`)),
      "invalid_manifest",
      FILE,
      key,
      reason,
    );
  }
  assertRefusal(
    parseError(toml({ limits: "5" })),
    "invalid_manifest",
    FILE,
    "limits",
    "not a table (5)",
  );
});

Deno.test("parseManifest() reports every issue, the first one in the headline", () => {
  const error = parseError(
    toml(
      { version: '"1.0"', module: '"../x.wasm"', colour: '"red"' },
      '[limits]\nfuel = 0\n[[hooks]]\nname = "a"\nkind = "bad"\n',
    ),
  );
  assert.ok(error instanceof HookError);
  const lines = error.message.split("\n");
  assert.equal(
    lines[0],
    `Invalid manifest "${FILE}": key "version": not a semantic version ("1.0")`,
  );
  assert.deepEqual(lines.slice(1).map((line) => line.match(/key "([^"]+)"/)?.[1]).sort(), [
    "colour",
    "hooks[0].kind",
    "limits.fuel",
    "module",
  ]);
  assert.ok(lines.slice(1).every((line) => line.startsWith("  key ")));
});

Deno.test("parseManifest() names the type of a wrongly typed value", () => {
  assertRefusal(
    parseError(toml({ name: "[1, 2]" })),
    "invalid_manifest",
    FILE,
    "name",
    "(an array)",
  );
});

// ---------------------------------------------------------------------------
// The JSON Schema

Deno.test("plugin.schema.json is in sync with the zod schema", async () => {
  const committed = JSON.parse(
    await Deno.readTextFile(new URL("../../plugin.schema.json", import.meta.url)),
  );
  assert.deepEqual(committed, manifestJsonSchema());
});

Deno.test("manifestJsonSchema() describes the file format", () => {
  const schema = manifestJsonSchema();
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(typeof schema.$id, "string");
  assert.equal(typeof schema.title, "string");
  assert.equal(typeof schema.description, "string");
  assert.equal(schema.additionalProperties, false);
  const properties = schema.properties as Record<string, Record<string, unknown>>;
  const limits = properties.limits.properties as Record<string, unknown>;
  assert.deepEqual(Object.keys(limits), [
    "memory_pages",
    "table_elements",
    "fuel",
    "timeout_ms",
    "instances",
  ]);
  assert.deepEqual(schema.required, ["name", "version", "abi", "module", "digest", "hooks"]);
});

// ---------------------------------------------------------------------------
// readManifest

Deno.test("readManifest() reads and verifies a plugin from a path and a file: URL", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir, { capabilities: '["log"]' });
    const moduleUrl = pathToFileURL(join(dir, "demo", "demo.wasm"));
    for (const location of [path, pathToFileURL(path), pathToFileURL(path).href]) {
      const loaded = await readManifest(location);
      assert.equal(loaded.manifest.name, "demo");
      assert.deepEqual(loaded.manifest.capabilities, ["log"]);
      assert.deepEqual(loaded.bytes, WASM);
      assert.equal(loaded.moduleUrl.href, moduleUrl.href);
      assert.equal(
        loaded.file,
        typeof location === "string" ? location : location.href,
      );
    }
  });
});

Deno.test("readManifest() reads a module from a subfolder and through an inner symlink", async () => {
  await withTempDir(async (dir) => {
    const folder = join(dir, "demo");
    await Deno.mkdir(join(folder, "build"), { recursive: true });
    await Deno.writeFile(join(folder, "build", "real.wasm"), WASM);
    await Deno.symlink(join(folder, "build", "real.wasm"), join(folder, "link.wasm"));
    const digest = JSON.stringify(await digestOf(WASM));
    for (const module of ["build/real.wasm", "./build/real.wasm", "link.wasm"]) {
      await Deno.writeTextFile(
        join(folder, "plugin.toml"),
        toml({ module: JSON.stringify(module), digest }),
      );
      const loaded = await readManifest(join(folder, "plugin.toml"));
      assert.deepEqual(loaded.bytes, WASM);
    }
  });
});

Deno.test("readManifest() refuses a module digest mismatch, naming both digests", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir, { digest: JSON.stringify(ZERO_DIGEST) });
    const actual = await digestOf(WASM);
    const error = assertRefusal(
      await rejection(readManifest(path)),
      "digest_mismatch",
      path,
      "digest",
      `expected ${ZERO_DIGEST}`,
      `actual ${actual}`,
      join(dir, "demo", "demo.wasm"),
      "if you rebuilt it on purpose, pin it with `deno run -A jsr:@gn/plugin-host/cli pin " +
        "path/to/plugin.toml`",
    );
    assert.equal(error.plugin, "demo");
  });
});

Deno.test("readManifest() refuses a module outside the folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "outside.wasm"), WASM);
    const digest = JSON.stringify(await digestOf(WASM));
    for (const module of ['"../outside.wasm"', `"${join(dir, "outside.wasm")}"`]) {
      const path = await writePlugin(dir, { module, digest });
      assertRefusal(await rejection(readManifest(path)), "invalid_manifest", path, "module");
    }
  });
});

Deno.test("readManifest() refuses a symlink whose real path escapes the folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "outside.wasm"), WASM);
    const path = await writePlugin(dir, {
      module: '"evil.wasm"',
      digest: JSON.stringify(await digestOf(WASM)),
    });
    await Deno.symlink(join(dir, "outside.wasm"), join(dir, "demo", "evil.wasm"));
    assertRefusal(
      await rejection(readManifest(path)),
      "invalid_manifest",
      path,
      "module",
      "outside the manifest's folder",
    );

    // A symlinked subfolder that leads out is refused the same way.
    await Deno.mkdir(join(dir, "elsewhere"));
    await Deno.writeFile(join(dir, "elsewhere", "x.wasm"), WASM);
    await Deno.symlink(join(dir, "elsewhere"), join(dir, "demo", "sub"));
    await Deno.writeTextFile(
      path,
      toml({ module: '"sub/x.wasm"', digest: JSON.stringify(await digestOf(WASM)) }),
    );
    assertRefusal(await rejection(readManifest(path)), "invalid_manifest", path, "module");
  });
});

Deno.test("readManifest() accepts a manifest folder reached through a symlink", async () => {
  await withTempDir(async (dir) => {
    await writePlugin(dir);
    await Deno.symlink(join(dir, "demo"), join(dir, "alias"));
    const loaded = await readManifest(join(dir, "alias", "plugin.toml"));
    assert.deepEqual(loaded.bytes, WASM);
  });
});

Deno.test("readManifest() refuses a module over the cap from its size alone", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir);
    const big = 20 * 1024 * 1024;
    // Sparse: no data is written, and none may be read.
    await Deno.truncate(join(dir, "demo", "demo.wasm"), big);
    assertRefusal(
      await rejection(readManifest(path, { maxModuleBytes: 1024 * 1024 })),
      "module_too_large",
      path,
      "module",
      `${big} bytes`,
      `cap of ${1024 * 1024} bytes`,
    );
    assert.ok(big > DEFAULT_MAX_MODULE_BYTES);
    assertRefusal(
      await rejection(readManifest(path)),
      "module_too_large",
      path,
      "module",
      `cap of ${DEFAULT_MAX_MODULE_BYTES} bytes`,
    );
  });
});

Deno.test("readManifest() accepts a module exactly at the cap", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir);
    const loaded = await readManifest(path, { maxModuleBytes: WASM.length });
    assert.equal(loaded.bytes.length, WASM.length);
    assertRefusal(
      await rejection(readManifest(path, { maxModuleBytes: WASM.length - 1 })),
      "module_too_large",
      path,
      "module",
    );
  });
});

Deno.test("readManifest() refuses a missing manifest, naming the path", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nope", "plugin.toml");
    const error = await rejection(readManifest(path));
    assert.ok(error instanceof HookError);
    assert.equal(error.code, "invalid_manifest");
    assert.ok(error.message.includes(JSON.stringify(path)), error.message);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
  });
});

Deno.test("readManifest() refuses a missing module, naming the key and path", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir, { module: '"missing.wasm"' });
    const error = assertRefusal(
      await rejection(readManifest(path)),
      "invalid_manifest",
      path,
      "module",
      join(dir, "demo", "missing.wasm"),
      "file not found",
    );
    assert.ok(error.cause instanceof Deno.errors.NotFound);
  });
});

Deno.test("readManifest() refuses a module that is a folder", async () => {
  await withTempDir(async (dir) => {
    const path = await writePlugin(dir, { module: '"folder.wasm"' });
    await Deno.mkdir(join(dir, "demo", "folder.wasm"));
    assertRefusal(
      await rejection(readManifest(path)),
      "invalid_manifest",
      path,
      "module",
      "not a regular file",
    );
  });
});

Deno.test("readManifest() refuses a manifest that is not UTF-8 or not valid", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "plugin.toml");
    await Deno.writeFile(path, new Uint8Array([0x6e, 0x3d, 0xff, 0xfe]));
    const error = await rejection(readManifest(path));
    assert.ok(error instanceof HookError);
    assert.equal(error.code, "invalid_manifest");
    assert.ok(error.message.includes(JSON.stringify(path)));

    await Deno.writeTextFile(path, toml({ name: '"X"' }));
    assertRefusal(await rejection(readManifest(path)), "invalid_manifest", path, "name");
  });
});

Deno.test("readManifest() refuses remote URLs and bad options", async () => {
  await assert.rejects(readManifest("https://example.com/plugin.toml"), TypeError);
  await assert.rejects(readManifest(new URL("http://example.com/plugin.toml")), TypeError);
  await assert.rejects(readManifest(""), TypeError);
  for (const maxModuleBytes of [0, -1, 1.5, Infinity, NaN]) {
    await assert.rejects(readManifest("plugin.toml", { maxModuleBytes }), RangeError);
  }
});

// ---------------------------------------------------------------------------
// clampLimits

Deno.test("clampLimits() fills in defaults", () => {
  assert.deepEqual(clampLimits(), DEFAULT_LIMITS);
  assert.deepEqual(clampLimits({}), {
    memoryPages: 16,
    tableElements: 100_000,
    fuel: 100_000_000,
    timeoutMs: 100,
    instances: 1,
  });
});

Deno.test("clampLimits() clamps each request to the host ceiling", () => {
  const requested = {
    memoryPages: 4096,
    tableElements: 10_000_000,
    fuel: 5e9,
    timeoutMs: 60_000,
    instances: 64,
  };
  assert.deepEqual(clampLimits(requested), HOST_CEILINGS);
  assert.deepEqual(
    clampLimits(requested, { memoryPages: 1024, tableElements: 5000, instances: 8 }),
    {
      memoryPages: 1024,
      tableElements: 5000,
      fuel: 1_000_000_000,
      timeoutMs: 1000,
      instances: 8,
    },
  );
  assert.deepEqual(clampLimits({ memoryPages: 2, tableElements: 0, fuel: 7 }), {
    memoryPages: 2,
    tableElements: 0,
    fuel: 7,
    timeoutMs: 100,
    instances: 1,
  });
});

Deno.test("clampLimits() clamps defaults to a lower ceiling", () => {
  assert.deepEqual(clampLimits({}, { memoryPages: 8, tableElements: 10, timeoutMs: 10 }), {
    memoryPages: 8,
    tableElements: 10,
    fuel: 100_000_000,
    timeoutMs: 10,
    instances: 1,
  });
});

Deno.test("clampLimits() works from a parsed manifest", () => {
  const manifest = parseManifest(
    toml({}, '[limits]\nmemory_pages = 512\n[[hooks]]\nname = "a"\nkind = "action"\n'),
    FILE,
  );
  assert.equal(clampLimits(manifest.limits).memoryPages, 256);
});

Deno.test("clampLimits() refuses out-of-range requests and ceilings", () => {
  assert.throws(() => clampLimits({ memoryPages: 0 }), RangeError);
  assert.throws(() => clampLimits({ fuel: 1.5 }), RangeError);
  assert.throws(() => clampLimits({}, { memoryPages: 65537 }), RangeError);
  assert.throws(() => clampLimits({ tableElements: -1 }), /tableElements \(table_elements\)/);
  assert.throws(() => clampLimits({}, { tableElements: 10_000_001 }), RangeError);
  assert.throws(() => clampLimits({}, { timeoutMs: NaN }), /timeoutMs \(timeout_ms\)/);
});

// ---------------------------------------------------------------------------
// checkGrants

const GRANTS_TOML = toml(
  { capabilities: '["log", "clock", "state"]' },
  '[[hooks]]\nname = "the_content"\nkind = "filter"\n' +
    '[[hooks]]\nname = "post.saved"\nkind = "action"\n' +
    '[[hooks]]\nname = "undeclared"\nkind = "action"\n',
);

function grantsError(options: Parameters<typeof checkGrants>[2]): unknown {
  try {
    checkGrants(parseManifest(GRANTS_TOML, FILE), FILE, options);
  } catch (e) {
    return e;
  }
  assert.fail("expected checkGrants() to throw");
}

const DECLARED: ReadonlyMap<string, "action" | "filter" | "guard"> = new Map([
  ["the_content", "filter"],
  ["post.saved", "action"],
  ["undeclared", "action"],
]);

Deno.test("checkGrants() accepts what the host allows", () => {
  const manifest = parseManifest(GRANTS_TOML, FILE);
  checkGrants(manifest, FILE, { granted: ["log", "clock", "state", "emit"] });
  checkGrants(manifest, FILE, { granted: ["log", "clock", "state"], declaredHooks: DECLARED });
  checkGrants(parseManifest(toml(), FILE), FILE);
});

Deno.test("checkGrants() refuses ungranted capabilities, naming each", () => {
  const error = assertRefusal(
    grantsError({ granted: ["clock"] }),
    "capability_denied",
    FILE,
    "capabilities[0]",
    'plugin "demo"',
    'capability "log" is not granted',
  );
  assert.ok(error.message.includes('key "capabilities[2]": capability "state"'));
  // The remedy: the host allows it in `grants`, or the manifest stops asking.
  assert.ok(error.message.includes("the host must allow it (`grants` in PluginHost.create)"));
  assert.ok(error.message.includes("or remove it from `capabilities` in the manifest"));
  assert.equal(error.plugin, "demo");
  assert.equal(error.errors?.length, 2);
  assertRefusal(grantsError({}), "capability_denied", FILE, "capabilities[0]");
});

Deno.test("checkGrants() refuses an undeclared hook", () => {
  const declaredHooks = new Map(DECLARED);
  declaredHooks.delete("undeclared");
  declaredHooks.set("undeclared.x", "action");
  const error = assertRefusal(
    grantsError({ granted: ["log", "clock", "state"], declaredHooks }),
    "hook_not_declared",
    FILE,
    "hooks[2].name",
    'hook "undeclared" is not declared',
    '(did you mean "undeclared.x"?)',
    "the host must declare it (`hooks` in PluginHost.create)",
  );
  assert.equal(error.hook, "undeclared");
  assert.equal(error.plugin, "demo");
});

Deno.test("checkGrants() refuses a hook bound with another kind", () => {
  const declaredHooks = new Map(DECLARED);
  declaredHooks.set("the_content", "guard");
  const error = assertRefusal(
    grantsError({ granted: ["log", "clock", "state"], declaredHooks }),
    "hook_kind_mismatch",
    FILE,
    "hooks[0].kind",
    'declared as "guard" by the host, not "filter": set kind = "guard"',
  );
  assert.equal(error.hook, "the_content");
});

Deno.test("checkGrants() reports every problem, not just the first", () => {
  const error = assertRefusal(
    grantsError({
      granted: ["log"],
      declaredHooks: new Map([["the_content", "action"], ["post.saved", "action"]]),
    }),
    "capability_denied",
    FILE,
    "capabilities[1]",
  );
  for (const key of ["capabilities[2]", "hooks[0].kind", "hooks[2].name"]) {
    assert.ok(error.message.includes(`key "${key}"`), error.message);
  }
  assert.deepEqual(error.errors?.map((e) => e.code), [
    "capability_denied",
    "capability_denied",
    "hook_kind_mismatch",
    "hook_not_declared",
  ]);
  assert.equal(error.message.split("\n").length, 4);
});

Deno.test("checkGrants() refuses an unknown granted token", () => {
  assert.throws(
    () => checkGrants(parseManifest(toml(), FILE), FILE, { granted: ["net"] }),
    TypeError,
  );
});

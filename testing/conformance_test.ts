// The conformance suite passes the bundled examples and fails plugins that break a requirement.
import assert from "node:assert/strict";
import { checkConformance, REQUIREMENTS, testConformance } from "./mod.ts";
import { withTempDir, writePlugin } from "../tests/_helpers.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;

for (
  const name of [
    "shout",
    "exclaim",
    "audit",
    ...["as", "rust", "c"].flatMap((l) => [`${l}-title`, `${l}-count`, `${l}-guard`]),
  ]
) {
  testConformance(`${EXAMPLES}${name}/plugin.toml`);
}

Deno.test("every requirement has a unique id and a description", () => {
  const ids = REQUIREMENTS.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const r of REQUIREMENTS) assert.ok(r.description.length > 10, r.id);
});

Deno.test("a plugin that traps on a bound hook fails GN-CALL-*", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "trappy",
      fixture: "content",
      hooks: [{ name: "trip_panic", kind: "action" }, { name: "the_content", kind: "filter" }],
    });
    const results = await checkConformance(file);
    const failed = results.filter((r) => !r.ok);
    assert.ok(failed.some((r) => r.id === "GN-CALL-1" && r.hook === "trip_panic"));
    assert.ok(failed.every((r) => r.hook === "trip_panic"), JSON.stringify(failed));
    assert.match(failed[0].detail, /trapped: .*boom/);
  });
});

Deno.test("a plugin answering malformed bodies fails; one that does not load fails GN-LOAD-1", async () => {
  await withTempDir(async (dir) => {
    const bad = await writePlugin(dir, {
      name: "garbled",
      fixture: "bad_bodies",
      hooks: [{ name: "not_utf8", kind: "filter" }],
    });
    const results = await checkConformance(bad);
    assert.ok(results.some((r) => !r.ok && r.detail.startsWith("bad_response")));

    const broken = await writePlugin(dir, {
      name: "broken",
      fixture: "identity",
      hooks: [{ name: "x", kind: "filter" }],
      digest: `blake3:${"0".repeat(64)}`,
    });
    const loadOnly = await checkConformance(broken);
    assert.deepEqual(loadOnly.map((r) => [r.id, r.ok]), [["GN-LOAD-1", false]]);
    assert.match(loadOnly[0].detail, /^digest_mismatch/);
  });
});

// Each bad fixture of fixtures/conformance/ breaks one requirement: the suite must say which.
const BAD: Record<string, string> = {
  unknown_declared: "GN-HOOK-2",
  leak: "GN-LEAK-1",
  guest_error: "GN-ERR-1",
  fuel_drift: "GN-DET-2",
  small_buffer: "GN-CAP-1",
  ascii_only: "GN-UTF8-1",
  empty_fails: "GN-EMPTY-1",
  bad_verdict: "GN-GUARD-1",
};

for (const [fixture, id] of Object.entries(BAD)) {
  Deno.test(`conformance: fixtures/conformance/${fixture} fails ${id}`, async () => {
    const file = new URL(`../fixtures/conformance/${fixture}.toml`, import.meta.url).pathname;
    const results = await checkConformance(file);
    assert.ok(results[0].ok, `it loads: ${results[0].detail}`);
    const failed = results.filter((r) => !r.ok).map((r) => r.id);
    assert.ok(failed.includes(id), `${id} should fail; failed: ${failed.join(", ") || "none"}`);
    // The requirement is there for a reason: the fixture passes every requirement listed before it.
    const before = REQUIREMENTS.slice(0, REQUIREMENTS.findIndex((r) => r.id === id)).map((r) =>
      r.id
    );
    assert.deepEqual(failed.filter((f) => before.includes(f) && !LOOSE.has(f)), []);
  });
}

/** Requirements a bad fixture may also fail as a side effect of its bug. */
const LOOSE = new Set<string>();

Deno.test("every requirement added for issue 12 has a bad fixture", () => {
  for (const id of Object.values(BAD)) assert.ok(REQUIREMENTS.some((r) => r.id === id), id);
});

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

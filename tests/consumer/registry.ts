/**
 * A local JSR-compatible registry for the consumer test: serves one version
 * of one package, made of exactly the files listed in a JSON file (the test
 * takes them from `deno publish --dry-run`), the way jsr.io serves them:
 *
 * - `/<scope>/<name>/meta.json`: the versions;
 * - `/<scope>/<name>/<version>_meta.json`: the exports and a manifest of
 *   every file, `{ "/path": { size, checksum: "sha256-<hex>" } }`, which
 *   Deno checks each downloaded file against;
 * - `/<scope>/<name>/<version>/<path>`: the files.
 *
 * As `deno publish` does, bare specifiers mapped by the package's
 * `deno.json` `imports` are rewritten to their targets in served modules.
 *
 * Usage: `deno run --allow-read --allow-net=127.0.0.1 registry.ts <spec.json>`
 * with spec `{ root, files: string[] }`; prints `LISTENING <port>`, then
 * one `GET <status> <path>` line per request.
 *
 * @module
 */

interface Spec {
  /** The package folder (a path). */
  root: string;
  /** Files relative to `root`, as published. */
  files: string[];
}

const spec: Spec = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const config = JSON.parse(await Deno.readTextFile(`${spec.root}/deno.json`));
const [scope, name] = (config.name as string).slice(1).split("/");
const version: string = config.version;
const imports: Record<string, string> = config.imports ?? {};

function unfurl(text: string): string {
  return text.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\2/g,
    (all, lead: string, quote: string, spec: string) =>
      imports[spec] !== undefined ? `${lead}${quote}${imports[spec]}${quote}` : all,
  );
}

const served = new Map<string, Uint8Array>();
const manifest: Record<string, { size: number; checksum: string }> = {};
for (const file of spec.files) {
  let bytes = await Deno.readFile(`${spec.root}/${file}`);
  if (/\.(ts|js|mts|mjs|tsx|jsx)$/.test(file)) {
    bytes = new TextEncoder().encode(unfurl(new TextDecoder().decode(bytes)));
  }
  served.set(`/${file}`, bytes);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  manifest[`/${file}`] = { size: bytes.length, checksum: `sha256-${hex}` };
}

const base = `/@${scope}/${name}`;
const json = (value: unknown) =>
  new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });

function handle(path: string): Response {
  if (path === `${base}/meta.json`) {
    return json({ scope, name, latest: version, versions: { [version]: {} } });
  }
  if (path === `${base}/${version}_meta.json`) {
    return json({ exports: config.exports, manifest });
  }
  const prefix = `${base}/${version}`;
  const bytes = path.startsWith(`${prefix}/`) ? served.get(path.slice(prefix.length)) : undefined;
  if (bytes === undefined) return new Response("not found", { status: 404 });
  const type = path.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
  return new Response(bytes.slice(), { headers: { "content-type": type } });
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`LISTENING ${port}`),
}, (req) => {
  const path = decodeURIComponent(new URL(req.url).pathname);
  const res = handle(path);
  console.log(`GET ${res.status} ${path}`);
  return res;
});

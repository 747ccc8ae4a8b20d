/**
 * What the host can learn, without side effects, about the isolation Deno
 * will give its workers.
 *
 * Deno exits the whole process, by design and uncatchably, when a worker is
 * created with `deno.permissions` while the worker-options unstable feature
 * is off; and it shows a program neither its command-line flags nor its
 * enabled features (`/proc/self/cmdline` needs `--allow-all`). So the host
 * only starts a worker on positive evidence that the feature is on: the
 * Deno config file in force enables it, or the embedder says it passes
 * `--unstable-worker-options`. Nothing here prompts.
 *
 * @module
 */

/** Deno's default remote-import allow-list (Deno 2). */
export const DEFAULT_IMPORT_HOSTS: readonly string[] = [
  "deno.land",
  "jsr.io",
  "esm.sh",
  "cdn.jsdelivr.net",
  "raw.githubusercontent.com",
  "gist.githubusercontent.com",
];

function granted(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

/** Strips `//` and `/* *\/` comments and trailing commas from JSONC, outside strings. */
export function stripJsonc(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      out += text.slice(start, i + 1);
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2);
      if (i < 0) break;
      i++;
    } else out += c;
  }
  return out.replace(/,(\s*[}\]])/g, "$1");
}

/** The nearest Deno config file at or above `dir`, and whether it enables worker-options. */
interface ConfigFinding {
  file: string | null;
  enabled: boolean;
  unreadable?: string;
}

function findConfig(dir: string): ConfigFinding {
  for (let d = dir;;) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      const file = `${d}/${name}`;
      if (!granted(file)) return { file, enabled: false, unreadable: file };
      let text: string;
      try {
        text = Deno.readTextFileSync(file);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        return { file, enabled: false, unreadable: file };
      }
      try {
        const cfg = JSON.parse(stripJsonc(text)) as { unstable?: unknown };
        return {
          file,
          enabled: Array.isArray(cfg.unstable) && cfg.unstable.includes("worker-options"),
        };
      } catch {
        return { file, enabled: false, unreadable: file };
      }
    }
    const parent = d.replace(/\/[^/]*$/, "");
    if (parent === d || parent === "") return { file: null, enabled: false };
    d = parent;
  }
}

/** What the host found out about the worker-options feature. */
export interface WorkerOptionsFinding {
  /** `on`: a config in force enables it. `unproven`: no evidence either way. */
  state: "on" | "unproven";
  /** What was looked at, for the error message. */
  detail: string;
  /** A config file that exists (or may) but that the host has no permission to read. */
  unreadable?: string;
}

/**
 * Whether Deno's worker-options feature is on, judged from the config files
 * Deno may be using: `deno run` looks for one from the main module's folder
 * up, `deno test` from the working directory up (observed on Deno 2.9.6).
 * Both, where readable, must enable the feature. `--no-config` and
 * `--config` are invisible to a program; see RATIONALE.md.
 *
 * @returns `on` with evidence, or `unproven` with what was seen.
 */
export function workerOptionsState(): WorkerOptionsFinding {
  const starts: string[] = [];
  try {
    const main = new URL(Deno.mainModule);
    if (main.protocol === "file:") {
      starts.push(decodeURIComponent(main.pathname).replace(/\/[^/]*$/, ""));
    }
  } catch {
    // no main module
  }
  if (granted(".")) {
    try {
      starts.push(Deno.cwd());
    } catch {
      // cwd gone
    }
  }
  if (starts.length === 0) return { state: "unproven", detail: "no config file could be located" };
  const findings = starts.map(findConfig);
  const bad = findings.find((f) => !f.enabled);
  if (bad === undefined) {
    return { state: "on", detail: `enabled in ${[...new Set(findings.map((f) => f.file))]}` };
  }
  const detail = bad.unreadable !== undefined
    ? `cannot read ${bad.unreadable} without a permission prompt`
    : bad.file === null
    ? `no deno.json found above ${starts[findings.indexOf(bad)]}`
    : `${bad.file} does not list "worker-options" in "unstable"`;
  return { state: "unproven", detail, unreadable: bad.unreadable };
}

let remoteImport: boolean | undefined;

/**
 * Whether a permission-less worker could dynamic-import a remote module (a
 * known Deno hole that `--deny-import` does not close: the worker may import
 * from every host the process may import from). Always `true` when the
 * worker itself comes from a remote origin (a JSR or https import of this
 * package, vendored or not): that host is necessarily allowed. Otherwise it
 * depends on Deno's default allow-list, which an explicit
 * `--allow-import=<hosts>` replaces and which shows in the permission state;
 * `--no-remote` also closes the hole but is invisible here, so this may
 * answer `true` under `--no-remote`.
 *
 * @param workerUrl Where the worker's module is loaded from.
 * @returns `true` when remote import looks possible.
 */
export function remoteImportPossible(workerUrl: URL): boolean {
  if (workerUrl.protocol === "http:" || workerUrl.protocol === "https:") return true;
  // Each query costs milliseconds and the answer comes from the process's
  // flags, which do not change: ask once.
  return remoteImport ??= DEFAULT_IMPORT_HOSTS.some((host) => {
    try {
      return Deno.permissions.querySync({ name: "import", host: `${host}:443` }).state ===
        "granted";
    } catch {
      return false;
    }
  });
}

/** A permission the host process lacks, as Deno reported it, and the flag that grants it. */
export interface MissingPermission {
  /** `read` or `import`. */
  name: "read" | "import";
  /** The path or host Deno named. */
  target: string;
  /** The command-line flag to add, e.g. `--allow-read=/srv/app/vendor`. */
  flag: string;
}

/**
 * Reads a worker start-up failure for a missing permission of the host
 * itself: Deno loads a worker's modules with its creator's permissions, and
 * says so in the error ("Requires read access to "…"", "Requires import
 * access to "…""). Deno's wording is the only signal it gives; an error
 * that does not match stays what it was.
 *
 * @param message The worker's error message.
 * @param packageRoot The folder of this package, when it is loaded from a path: the flag then
 *   names the whole folder, since the worker reads several of its files.
 * @returns What is missing, or `undefined` for any other failure.
 */
export function missingPermission(
  message: string,
  packageRoot: string | undefined,
): MissingPermission | undefined {
  const m = /Requires (read|import) access to "([^"]+)"/.exec(message);
  if (m === null) return undefined;
  const name = m[1] as "read" | "import";
  const target = m[2];
  if (name === "read") {
    const path = packageRoot !== undefined && target.startsWith(packageRoot) ? packageRoot : target;
    return { name, target, flag: `--allow-read=${path}` };
  }
  return { name, target, flag: `--allow-import=${target}` };
}

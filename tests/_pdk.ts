/**
 * The PDK example plugins: their folders under `examples/` and how each is built.
 *
 * @module
 */

/** The PDK languages. */
export const LANGS = ["rust", "c"] as const;
/** A PDK language. */
export type Lang = typeof LANGS[number];
/** An example kind: the title-case filter, the counting action, the guard. */
export type ExampleKind = "title" | "count" | "guard";

/** Each language's example folders (also the plugin names). */
export const EXAMPLE_DIRS: Record<Lang, Record<ExampleKind, string>> = {
  rust: { title: "rust-title", count: "rust-count", guard: "rust-guard" },
  c: { title: "c-title", count: "c-count", guard: "c-guard" },
};

/**
 * Pins a plugin (kept for scripts that call it): the logic is `gn pin`
 * (cli/pin.ts).
 *
 * Usage: `deno run --allow-read --allow-write tools/pin.ts examples/shout/plugin.toml …`,
 * the same as `deno task gn pin examples/shout/plugin.toml …`.
 *
 * @module
 */

export { digestOf, pinText } from "../cli/pin.ts";
import { main } from "../cli/main.ts";

if (import.meta.main) Deno.exit(await main(["pin", ...Deno.args]));

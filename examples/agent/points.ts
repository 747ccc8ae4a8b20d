/**
 * The hook points of the agent example: an agent runtime's tool calls and a
 * submission pipeline. Shared by `main.ts`, its test and the benchmark.
 *
 * @module
 */

import { z } from "zod";
import type { HookPointSpec } from "../../mod.ts";

/** Before a tool runs: block, ask, or rewrite its input. */
export const PRE_TOOL_USE: HookPointSpec = {
  name: "pre_tool_use",
  kind: "guard",
  subject: z.object({
    session_id: z.string(),
    tool_name: z.string().min(1),
    tool_input: z.record(z.string(), z.unknown()),
  }),
  decisions: ["continue", "block", "ask", "modify"],
  mutable: { tool_input: "replace" },
  opaque: ["session_id"],
  matchField: "tool_name",
};

/** After a tool ran: only observe, and leave notes through the durable sink. */
export const POST_TOOL_USE: HookPointSpec = {
  name: "post_tool_use",
  kind: "guard",
  subject: z.object({
    session_id: z.string(),
    tool_name: z.string(),
    tool_output: z.string(),
  }),
  decisions: ["continue"],
  opaque: ["session_id"],
  handles: ["sink"],
  matchField: "tool_name",
};

/** Before a submission leaves: plugins may only append to `extra`. */
export const PRE_SUBMIT: HookPointSpec = {
  name: "pre_submit",
  kind: "guard",
  subject: z.object({
    actor: z.string(),
    body: z.string().max(10_000),
    extra: z.array(z.string().max(200)).max(16),
    auth_token: z.string(),
  }),
  decisions: ["continue", "block", "modify"],
  mutable: { extra: "append" },
  opaque: ["auth_token"],
};

/**
 * Every `gn` command, in the order `gn --help` lists them.
 *
 * @module
 */

import { build } from "./build.ts";
import { call } from "./call.ts";
import { check } from "./check.ts";
import { inspect } from "./inspect.ts";
import { create } from "./new.ts";
import { pin } from "./pin.ts";
import { test } from "./test.ts";
import type { Command } from "./_util.ts";

/** Every command, in the order `gn --help` lists them. */
export const COMMANDS: readonly Command[] = [create, build, pin, check, call, inspect, test];

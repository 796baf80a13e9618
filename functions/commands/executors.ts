import type { CommandRow, CommandType } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { EffectOutcome } from "./inline.ts";

/**
 * Performs one command's side effect from its stored payload. It must validate the payload
 * before touching anything (an invalid payload fails with no side effect), and it runs only
 * after the command was claimed and marked side_effect_started.
 */
export type Executor = (ctx: Ctx, cmd: CommandRow) => Promise<EffectOutcome>;

/** Command types that act on a machine and so run only where that host's Host is available. */
export const HOST_COMMAND_TYPES: readonly CommandType[] = ["nudge", "interrupt", "capture", "stop", "spawn", "deliver"];

/**
 * Every command type's executor. Each group registers its own entries here, one spread per
 * group, so the dispatcher, the inline path and the remote runner share one table.
 */
export const EXECUTORS: Partial<Record<CommandType, Executor>> = {};

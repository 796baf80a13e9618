import type { CommandPolicy, ExecutorTable } from "./lib/ctx.ts";
import { PANE_EXECUTORS } from "./actuate/pane-executors.ts";
import { settleStop } from "./actuate/stop.ts";
import { LOOP_EXECUTORS, loopPolicy } from "./loops/continue.ts";
import { INBOX_EXECUTORS } from "./messages/inbox-executors.ts";
import { routeCompletions, type RoutingReport } from "./messages/routing.ts";
import { pushAuthorityPolicy } from "./messages/push-authority.ts";
import type { DispatchPlugins } from "./queue/dispatch-pass.ts";
import type { SettleTable } from "./queue/run.ts";
import { permissionPolicy } from "./supervision/policy.ts";

/*
 * The composition root of the command queue. The queue knows no group; each group exports the
 * executors of its own command types, and they are put together here, once, beside createApp.
 */

/**
 * Every command type's executor, one spread per group: the table a dispatcher runs. The inline
 * path and the remote runner use the same executor objects through their group's own table.
 */
export const EXECUTORS: ExecutorTable = {
  ...PANE_EXECUTORS,
  ...INBOX_EXECUTORS,
  ...LOOP_EXECUTORS,
};

/** Runs each group's policy in turn; the first refusal wins. */
function allOf(...policies: CommandPolicy[]): CommandPolicy {
  return async (ctx, cmd) => {
    for (const p of policies) {
      const refusal = await p(ctx, cmd);
      if (refusal) return refusal;
    }
    return null;
  };
}

/** What every dispatched command is put to before its side effect, by a dispatcher or a runner. */
export const DISPATCH_POLICY: CommandPolicy = allOf(permissionPolicy, loopPolicy, pushAuthorityPolicy);

/**
 * What the server records when a command succeeds outside the request that created it (in a
 * dispatcher, or a remote runner's report): a stop marks its session gone, as the inline path does.
 */
export const SETTLE: SettleTable = { stop: settleStop };

/**
 * What every dispatch pass of this app runs: the shared executors, completion routing before the
 * claim so the notify commands and inbox deliveries it creates go out in the same pass, the
 * policies (manager permissions, loop guardrails) each claimed command must pass before its side
 * effect, and the settle functions.
 */
export const DISPATCH_PLUGINS: DispatchPlugins<RoutingReport> = { executors: EXECUTORS, route: routeCompletions, policy: DISPATCH_POLICY, settle: SETTLE };

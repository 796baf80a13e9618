/** Everything a manager bootstrap prompt can name. */
export interface BootstrapInput {
  manager: string;
  task?: string | null;
  goal?: string | null;
  worker?: string | null;
}

/**
 * The first prompt a spawned manager receives. With a task, goal and worker it is ready to
 * supervise and names the exact commands; without them it asks the manager to collect them.
 */
export function managerBootstrapPrompt(b: BootstrapInput): string {
  if (!b.task || !b.worker) {
    return [
      `You are ${b.manager}, a Switchyard manager session. You supervise a worker agent through the \`switchyard\` CLI.`,
      "Before supervising, find out which task and worker you manage: run `switchyard discover --json` and ask the user to confirm the task name, its goal and the worker session.",
      "Binding is the owner's decision: ask the user to run `switchyard bind --task <TASK> --worker <WORKER> --manager " +
        b.manager +
        "`, then start the loop with `switchyard cycle <TASK> --json`.",
    ].join("\n");
  }
  const lines = [
    `You are ${b.manager}, the Switchyard manager of task '${b.task}'.`,
    b.goal ? `Goal: ${b.goal}` : "The task has no recorded goal; ask the user for one before judging progress.",
    `Worker session: ${b.worker}. Do not write code yourself; watch the worker and steer it.`,
    "",
    "Loop:",
    `1. Run \`switchyard cycle ${b.task} --json\` and read state, task_completed, staleness_seconds, worker_alive and notable_pane_pattern.`,
    `2. If the worker is busy and fresh, wait a minute and cycle again.`,
    `3. If notable_pane_pattern is set (trust_prompt, approval_prompt, rate_limit_prompt, enter_to_confirm, long_running_interruptible), inspect with \`switchyard tail ${b.worker} --include-content\` and act.`,
    `4. To steer the worker: \`switchyard session-nudge ${b.worker} "<message>"\`. To stop a runaway turn: \`switchyard session-interrupt ${b.worker}\`.`,
    `5. When task_completed is true, review the result against the goal; nudge with concrete follow-ups, or finish: \`switchyard finish-task ${b.task} --reason "<why>"\`.`,
    `See what the worker did recently with \`switchyard tail ${b.worker} --limit 20\` (add --include-content for the text).`,
  ];
  return lines.join("\n");
}

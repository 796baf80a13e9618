/** Everything a manager bootstrap prompt can name. */
export interface BootstrapInput {
  manager: string;
  task?: string | null;
  goal?: string | null;
  worker?: string | null;
  /** A manager config is already recorded for the task: start cycling instead of asking setup questions. */
  configured?: boolean;
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
    b.configured
      ? `Your supervision contract is recorded (\`switchyard manager-config ${b.task} --json\`): start supervising with cycle right away.`
      : `First record your supervision contract: ask the user the questions from \`switchyard manager-config --questions --json\`, then save the answers with \`switchyard manager-config ${b.task} --objective ... --permit ...\`.`,
    `Acknowledge the contract once: \`switchyard manager-ack ${b.task} --payload-json '{"objective":"..."}'\` (the worker acks with worker-ack).`,
    "",
    "Loop:",
    `1. Run \`switchyard cycle ${b.task} --json\` and read state, task_completed, staleness_seconds, worker_alive and notable_pane_pattern.`,
    `2. If the worker is busy and fresh, wait a minute and cycle again.`,
    `3. If notable_pane_pattern is set (trust_prompt, approval_prompt, rate_limit_prompt, enter_to_confirm, long_running_interruptible), inspect with \`switchyard tail ${b.worker} --include-content\` and act.`,
    `4. To steer the worker: \`switchyard session-nudge ${b.worker} "<message>"\`. To stop a runaway turn: \`switchyard session-interrupt ${b.worker}\`.`,
    `5. Read manager_context.acceptance_criteria and criteria_negotiation in each cycle. Record criteria as they emerge (\`switchyard criteria ${b.task} --add --criterion "..." --source manager_inferred\`), accept must-haves, defer follow-ups, and satisfy each only with evidence (\`--satisfy ID --evidence-json '{"command":"...","status":"pass"}'\`).`,
    `6. When task_completed is true and no accepted criterion is open, finish with proof: \`switchyard finish-task ${b.task} --require-criteria-audit --reason "<why>"\`. A refusal names what is still missing.`,
    `See what the worker did recently with \`switchyard tail ${b.worker} --limit 20\` (add --include-content for the text).`,
  ];
  return lines.join("\n");
}

import type { LoopRunRow } from "../../schema/loops.ts";
import type { TaskRow } from "../../schema/tasks.ts";

/** The policy context a loop carries everywhere: commands, inbox payloads, status. */
export function loopPolicyOf(run: LoopRunRow) {
  return {
    run_id: run.id,
    template: run.template,
    current_iteration: run.currentIteration,
    max_iterations: run.maxIterations,
    cleanup_policy: run.cleanupPolicy,
    required_before_continue: run.requiredBeforeContinue,
    artifact_requirements: run.artifactRequirements,
    recommended_tools: run.recommendedTools,
  };
}

export type LoopPolicy = ReturnType<typeof loopPolicyOf>;

/** A short instruction for the worker receiving a loop's next pass. */
export function iterationInstruction(task: Pick<TaskRow, "name">, run: LoopRunRow, iteration: number, message: string | null): string {
  const evidence = run.requiredBeforeContinue.join(", ") || "none";
  return [
    `[switchyard loop ${run.template} ${run.id}] Start iteration ${iteration} of ${run.maxIterations} on task ${task.name}.`,
    message ?? "",
    `Before the next pass can start, record evidence (${evidence}) with: switchyard loop-evidence add ${task.name} --loop-run ${run.id} --iteration ${iteration} --evidence-type TYPE.`,
  ]
    .filter(Boolean)
    .join(" ");
}

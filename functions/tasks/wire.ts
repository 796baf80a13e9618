import type { BindingRow } from "../../schema/bindings.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { iso } from "../lib/sql.ts";

/** The wire form of a task row. */
export function taskToWire(t: TaskRow) {
  return {
    id: t.id,
    name: t.name,
    goal: t.goal,
    summary: t.summary,
    state: t.state,
    created_at: iso(t.createdAt)!,
    updated_at: iso(t.updatedAt)!,
    finished_at: iso(t.finishedAt),
  };
}

/** The wire form of a binding, with names resolved. */
export function bindingToWire(b: Omit<BindingRow, "eventWatermark">, names: { task: string; worker: string; manager: string }) {
  return {
    id: b.id,
    task: names.task,
    worker: names.worker,
    manager: names.manager,
    state: b.state,
    created_at: iso(b.createdAt)!,
    ended_at: iso(b.endedAt),
  };
}

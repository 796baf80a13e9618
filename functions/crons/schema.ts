import { z } from "@hono/zod-openapi";

export const CronNameParam = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, "a cron name like heartbeat-sweep")
    .openapi({ param: { name: "name", in: "path" } }),
});

export const CronRunResult = z
  .object({
    run_id: z.string(),
    name: z.string(),
    state: z.enum(["succeeded", "failed"]),
    started_at: z.string(),
    finished_at: z.string(),
    report: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
  })
  .openapi("CronRunResult");

export const CronInfo = z
  .object({
    name: z.string(),
    schedule: z.string(),
    description: z.string(),
    last_run: z
      .object({
        run_id: z.string(),
        state: z.string(),
        runner: z.string(),
        started_at: z.string(),
        finished_at: z.string().nullable(),
        error: z.string().nullable(),
      })
      .nullable(),
  })
  .openapi("CronInfo");

export const CronList = z.object({ crons: z.array(CronInfo) }).openapi("CronList");

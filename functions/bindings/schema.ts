import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { NameSchema } from "../lib/names.ts";
import { Binding } from "../tasks/schema.ts";

export const BindBody = z.object({ task: NameSchema, worker: NameSchema, manager: NameSchema }).strict().openapi("Bind");

export const BindResult = z.object({ binding: Binding, binding_id: z.string(), event_id: z.string() }).openapi("BindResult");

export const UnbindBody = z.object({ task: NameSchema }).strict().openapi("Unbind");

export const BindingListQuery = z.object({ state: z.enum(["active", "ended", "all"]).optional().default("active"), ...PageQueryFields });

export const BindingList = z.object({ bindings: z.array(Binding), count: z.number().int(), ...NextCursorField }).openapi("BindingList");

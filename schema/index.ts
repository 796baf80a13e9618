export * from "./sessions.ts";
export * from "./tasks.ts";
export * from "./bindings.ts";
export * from "./events.ts";
export * from "./auth.ts";
export * from "./crons.ts";
export * from "./observe.ts";
export * from "./commands.ts";

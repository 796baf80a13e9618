/** Dispatcher whose heartbeat the loop checks unless the caller names another. */
export const DEFAULT_DISPATCHER_ID = "dispatch-local";

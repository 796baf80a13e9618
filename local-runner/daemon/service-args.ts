// What `service install|uninstall` and `broker daemon-*` share when they turn a command line into
// a unit file: the script the service manager starts, which service manager it is, and the home its files go under.
import { existsSync, realpathSync } from "node:fs";
import { cliEntry } from "../agents.ts";
import { str, UsageError, type Args } from "../cli/spec.ts";
import { nativePlatform } from "./manager.ts";
import type { Platform } from "./units.ts";

/** The switchyard entry script the service manager should start: the one running now, if it is the CLI. */
export function cliScript(): string {
  const argv1 = process.argv[1];
  if (argv1 && /switchyard(\.[cm]js)?$/.test(argv1) && existsSync(argv1)) return realpathSync(argv1);
  return cliEntry();
}

/** `--platform launchd|systemd` (its choices are checked before a command runs), else this machine's service manager; a usage error when it has none. */
export function platformOf(a: Args): Platform {
  const v = str(a, "platform") as Platform | undefined;
  if (v === undefined) {
    const native = nativePlatform();
    if (!native) throw new UsageError(`no launchd or systemd on ${process.platform}; pass --platform launchd|systemd to write the files anyway`);
    return native;
  }
  return v;
}

/** The user's home directory, under which launchd and systemd --user keep unit files; a usage error without $HOME. */
export function unitHome(): string {
  const userHome = process.env.HOME;
  if (!userHome) throw new UsageError("$HOME is not set; the unit files live under it");
  return userHome;
}

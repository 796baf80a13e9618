import { readFileSync, statSync } from "node:fs";
import { HintedError } from "./spec.ts";

/**
 * Reads a runner token from a file, as an installed runner service does (the token stays out of
 * the unit file and the process list). Like ssh with a private key, a file others may read is
 * refused: the token can type into this machine's panes.
 */
export function readTokenFile(path: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new HintedError(
      `cannot read --token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      "Save the runner token there (mode 0600).",
    );
  }
  if (mode & 0o077) {
    throw new HintedError(`--token-file ${path} is readable by other users (mode ${(mode & 0o777).toString(8)})`, `Run: chmod 600 ${path}`);
  }
  if (!text) throw new HintedError(`--token-file ${path} is empty`, "Save the runner token there: switchyard token mint --scope runner --host H");
  return text;
}

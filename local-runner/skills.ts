import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The skills this checkout ships: every directory under skills/ that has a SKILL.md. */
export function skillsRoot(): string {
  return fileURLToPath(new URL("../skills", import.meta.url));
}

/** The skill directories found under skills/ (so a skill added later is installed without code changes). */
export function skillDirs(root = skillsRoot()): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, "SKILL.md")))
    .map((e) => e.name)
    .sort();
}

/** Where each agent reads personal skills: Claude Code's config dir, Codex's home. */
export function skillTargets(env: NodeJS.ProcessEnv): { claude: string; codex: string } {
  const home = env.HOME || homedir();
  return {
    claude: join(env.CLAUDE_CONFIG_DIR || join(home, ".claude"), "skills"),
    codex: join(env.CODEX_HOME || join(home, ".codex"), "skills"),
  };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

/** One file install-skills wrote (or would write). */
export interface SkillFile {
  skill: string;
  path: string;
  action: "create" | "update" | "unchanged";
}

/**
 * Copies every skill into `target/<skill>/`, file by file, writing only files whose bytes
 * differ (so a second run writes nothing). Files of the agent's own in those directories are
 * left alone.
 */
export function installSkills(target: string, dryRun: boolean, root = skillsRoot()): { files: SkillFile[] } {
  const files: SkillFile[] = [];
  for (const skill of skillDirs(root)) {
    for (const src of filesUnder(join(root, skill))) {
      const dst = join(target, skill, relative(join(root, skill), src));
      const bytes = readFileSync(src);
      const action: SkillFile["action"] = !existsSync(dst) ? "create" : readFileSync(dst).equals(bytes) ? "unchanged" : "update";
      files.push({ skill, path: dst, action });
      if (dryRun || action === "unchanged") continue;
      mkdirSync(dirname(dst), { recursive: true });
      const tmp = `${dst}.${process.pid}.tmp`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, dst);
    }
  }
  return { files };
}

import pkg from "../../package.json" with { type: "json" };

/** The package version, printed by `switchyard --version` (bundled into dist/ at build time). */
export const VERSION: string = pkg.version;

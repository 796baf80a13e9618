import { describe, expect, it } from "vitest";
import { nextPageHintFor, withConnection } from "../../../local-runner/cli/paging.ts";

/* Next-page hints repeat the home and server a list came from, and never print a credential. */
const args = { values: { limit: "1" }, positionals: [] };
const hint = (typed: Record<string, unknown>, settled: { home?: string; url?: string }) =>
  nextPageHintFor({ next_cursor: "CUR" }, "notes", withConnection(args, typed, settled));

describe("withConnection", () => {
  it("repeats --home (made absolute, quoted) and a plain --url", () => {
    expect(hint({ home: "h" }, { home: "/tmp/my home's" })).toBe("\nmore: switchyard notes --limit 1 --home '/tmp/my home'\\''s' --cursor CUR");
    expect(hint({ url: "http://127.0.0.1:7070" }, { url: "http://127.0.0.1:7070" })).toBe(
      "\nmore: switchyard notes --limit 1 --url http://127.0.0.1:7070 --cursor CUR",
    );
  });

  it("leaves out a --url carrying a user, password, query or fragment", () => {
    for (const url of ["http://alice:s3cret@host:8080", "http://alice@host", "http://host/?token=abc", "http://host/#t=abc"]) {
      expect(hint({ url }, { url }), url).toBe("\nmore: switchyard notes --limit 1 --cursor CUR");
    }
  });

  it("repeats nothing the command line did not give (an environment's home or server, an empty --url)", () => {
    expect(hint({}, { home: "/srv/home", url: "http://h:1" })).toBe("\nmore: switchyard notes --limit 1 --cursor CUR");
    expect(hint({ url: "" }, { url: "http://from-env:1" })).toBe("\nmore: switchyard notes --limit 1 --cursor CUR");
  });
});

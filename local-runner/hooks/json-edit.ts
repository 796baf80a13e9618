import * as jsonc from "jsonc-parser";

// jsonc-parser (the VS Code settings parser) finds where every value sits in the file; the edits
// below only ever insert or delete those byte ranges, so nothing else in a user's settings moves.
// Its own `modify` re-formats the array or object it edits, which is why it is not used here.

/** A parsed node of the settings file, with its byte range. */
export type JsonNode = jsonc.Node;

/** Parses settings text, failing with the position of the first syntax error. */
export function parseTree(text: string, file: string): JsonNode {
  const errors: jsonc.ParseError[] = [];
  const root = jsonc.parseTree(text.trim() === "" ? "{}" : text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length || !root || root.type !== "object") {
    const e = errors[0];
    const where = e ? ` at byte ${e.offset} (${jsonc.printParseErrorCode(e.error)})` : "";
    throw new Error(`${file} is not a JSON object${where}`);
  }
  return root;
}

/** The value node at `path` (object keys and array indexes), or undefined. */
export function nodeAt(root: JsonNode, path: Array<string | number>): JsonNode | undefined {
  return jsonc.findNodeAtLocation(root, path);
}

/** The plain value of a node. */
export function plainValue(node: JsonNode | undefined): unknown {
  return node ? jsonc.getNodeValue(node) : undefined;
}

/** Indentation unit and line ending the file already uses (two spaces and \n when it cannot tell). */
export function styleOf(text: string): { unit: string; eol: string } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const m = /\n([ \t]+)\S/.exec(text);
  return { unit: m ? (m[1]!.startsWith("\t") ? "\t" : m[1]!) : "  ", eol };
}

function lineIndent(text: string, offset: number): string {
  const start = text.lastIndexOf("\n", offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

function render(value: unknown, indent: string, unit: string, eol: string): string {
  return JSON.stringify(value, null, unit)
    .split("\n")
    .map((l, i) => (i === 0 ? l : indent + l))
    .join(eol);
}

const multiLine = (text: string, node: JsonNode) => text.slice(node.offset, node.offset + node.length).includes("\n");

/** The text after adding `key: value` at the end of the object `obj` (which must not have the key). */
export function insertMember(text: string, obj: JsonNode, key: string, value: unknown): string {
  const { unit, eol } = styleOf(text);
  const props = obj.children ?? [];
  const close = obj.offset + obj.length - 1;
  if (props.length === 0) {
    const outer = lineIndent(text, obj.offset);
    const inner = outer + unit;
    const member = `${JSON.stringify(key)}: ${render(value, inner, unit, eol)}`;
    const between = text.slice(obj.offset + 1, close);
    // `{}` or `{ }` becomes a multi-line object; an already open `{\n}` keeps its closing line.
    if (between.includes("\n")) return `${text.slice(0, obj.offset + 1)}${eol}${inner}${member}${text.slice(obj.offset + 1)}`;
    return `${text.slice(0, obj.offset + 1)}${eol}${inner}${member}${eol}${outer}${text.slice(close)}`;
  }
  const last = props.at(-1)!;
  const end = last.offset + last.length;
  if (!multiLine(text, obj)) return `${text.slice(0, end)}, ${JSON.stringify(key)}: ${JSON.stringify(value)}${text.slice(end)}`;
  const indent = lineIndent(text, last.offset);
  return `${text.slice(0, end)},${eol}${indent}${JSON.stringify(key)}: ${render(value, indent, unit, eol)}${text.slice(end)}`;
}

/** The text after appending `value` to the array `arr`. */
export function appendElement(text: string, arr: JsonNode, value: unknown): string {
  const { unit, eol } = styleOf(text);
  const items = arr.children ?? [];
  const close = arr.offset + arr.length - 1;
  if (items.length === 0) {
    const outer = lineIndent(text, arr.offset);
    const inner = outer + unit;
    return `${text.slice(0, arr.offset + 1)}${eol}${inner}${render(value, inner, unit, eol)}${eol}${outer}${text.slice(close)}`;
  }
  const last = items.at(-1)!;
  const end = last.offset + last.length;
  if (!multiLine(text, arr)) return `${text.slice(0, end)}, ${JSON.stringify(value)}${text.slice(end)}`;
  const indent = lineIndent(text, last.offset);
  return `${text.slice(0, end)},${eol}${indent}${render(value, indent, unit, eol)}${text.slice(end)}`;
}

/** The text with the value node replaced by `value` (rendered at the node's indentation). */
export function replaceValue(text: string, node: JsonNode, value: unknown): string {
  const { unit, eol } = styleOf(text);
  const rendered = multiLine(text, node) ? render(value, lineIndent(text, node.offset), unit, eol) : JSON.stringify(value);
  return `${text.slice(0, node.offset)}${rendered}${text.slice(node.offset + node.length)}`;
}

/**
 * The text without one array element or object member (`node` is the element, or the member's
 * property node), together with the separator that joined it to its neighbour, so an append
 * followed by this removal gives back the original bytes.
 */
export function removeChild(text: string, node: JsonNode): string {
  const parent = node.parent!;
  const siblings = parent.children ?? [];
  const i = siblings.indexOf(node);
  const end = node.offset + node.length;
  if (i > 0) {
    const prev = siblings[i - 1]!;
    return text.slice(0, prev.offset + prev.length) + text.slice(end);
  }
  if (siblings.length > 1) {
    const next = siblings[1]!;
    return text.slice(0, node.offset) + text.slice(next.offset);
  }
  // The only child: the container goes back to empty, as `insertMember`/`appendElement` found it.
  const close = parent.offset + parent.length - 1;
  return `${text.slice(0, parent.offset + 1)}${text.slice(close)}`;
}

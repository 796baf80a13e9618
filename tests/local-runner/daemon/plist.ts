/**
 * A strict XML well-formedness check and a property-list reader, for checking generated
 * launchd plists where `plutil` is not installed (everywhere but macOS).
 */

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

interface Node {
  name: string;
  children: Node[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*$/;
const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function decode(text: string, at: number): string {
  const stray = text.replace(ENTITY, "").search(/[&<]/);
  if (stray >= 0) throw new Error(`unescaped '${text.replace(ENTITY, "")[stray]}' in text near offset ${at}`);
  return text.replace(ENTITY, (_m, e: string) =>
    e === "amp"
      ? "&"
      : e === "lt"
        ? "<"
        : e === "gt"
          ? ">"
          : e === "quot"
            ? '"'
            : e === "apos"
              ? "'"
              : String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );
}

/** Parses a document or throws naming the first well-formedness error. Attributes are checked, then dropped. */
export function parseXml(doc: string): Node {
  let i = 0;
  const root: Node = { name: "#document", children: [], text: "" };
  const stack: Node[] = [root];
  let sawRoot = false;
  while (i < doc.length) {
    const lt = doc.indexOf("<", i);
    const text = doc.slice(i, lt === -1 ? doc.length : lt);
    if (text.trim()) {
      if (stack.length === 1) throw new Error(`text outside the root element at offset ${i}`);
      stack.at(-1)!.text += decode(text, i);
    }
    if (lt === -1) break;
    if (doc.startsWith("<?", lt)) {
      const end = doc.indexOf("?>", lt);
      if (end === -1 || (lt !== 0 && doc.startsWith("<?xml", lt))) throw new Error(`bad processing instruction at offset ${lt}`);
      i = end + 2;
    } else if (doc.startsWith("<!--", lt)) {
      const end = doc.indexOf("-->", lt);
      if (end === -1) throw new Error(`unterminated comment at offset ${lt}`);
      i = end + 3;
    } else if (doc.startsWith("<!DOCTYPE", lt)) {
      if (sawRoot) throw new Error("DOCTYPE after the root element");
      const end = doc.indexOf(">", lt);
      i = end + 1;
    } else if (doc.startsWith("</", lt)) {
      const end = doc.indexOf(">", lt);
      const name = doc.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name || stack.length === 0) throw new Error(`closing </${name}> does not match <${open?.name}> at offset ${lt}`);
      i = end + 1;
    } else {
      const end = doc.indexOf(">", lt);
      if (end === -1) throw new Error(`unterminated tag at offset ${lt}`);
      let body = doc.slice(lt + 1, end);
      const selfClosing = body.endsWith("/");
      if (selfClosing) body = body.slice(0, -1);
      const [name, ...rest] = body.trim().split(/\s+/);
      if (!name || !NAME.test(name)) throw new Error(`bad element name '${name}' at offset ${lt}`);
      const attrs = rest.join(" ");
      if (attrs && !/^(\s*[A-Za-z_][\w.:-]*\s*=\s*("[^"<]*"|'[^'<]*'))*\s*$/.test(attrs)) throw new Error(`bad attributes in <${name}> at offset ${lt}`);
      if (stack.length === 1) {
        if (sawRoot) throw new Error(`second root element <${name}> at offset ${lt}`);
        sawRoot = true;
      }
      const node: Node = { name, children: [], text: "" };
      stack.at(-1)!.children.push(node);
      if (!selfClosing) stack.push(node);
      i = end + 1;
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack.at(-1)!.name}>`);
  if (!sawRoot) throw new Error("no root element");
  return root.children[0]!;
}

function value(n: Node): PlistValue {
  switch (n.name) {
    case "string":
      return n.text;
    case "integer":
      if (!/^-?\d+$/.test(n.text.trim())) throw new Error(`bad integer '${n.text}'`);
      return Number(n.text);
    case "true":
    case "false":
      if (n.children.length || n.text.trim()) throw new Error(`<${n.name}/> must be empty`);
      return n.name === "true";
    case "array":
      return n.children.map(value);
    case "dict": {
      const out: Record<string, PlistValue> = {};
      if (n.children.length % 2) throw new Error("dict with a key and no value");
      for (let k = 0; k < n.children.length; k += 2) {
        const key = n.children[k]!;
        if (key.name !== "key") throw new Error(`dict entry starts with <${key.name}>, not <key>`);
        if (key.text in out) throw new Error(`duplicate key '${key.text}'`);
        out[key.text] = value(n.children[k + 1]!);
      }
      return out;
    }
    default:
      throw new Error(`unknown plist element <${n.name}>`);
  }
}

/** Reads a property list document into plain values, checking its structure on the way. */
export function parsePlist(doc: string): Record<string, PlistValue> {
  const root = parseXml(doc);
  if (root.name !== "plist" || root.children.length !== 1 || root.children[0]!.name !== "dict") throw new Error("a plist must be <plist> around one <dict>");
  return value(root.children[0]!) as Record<string, PlistValue>;
}

/** Reads the `[Section]` / `Key=Value` structure of a unit file, failing on anything else. */
export function parseUnit(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: string | null = null;
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      out[section] = {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`not a unit file line: ${line}`);
    // A repeated key (Environment=) keeps every value, one per line.
    const prev = out[section]![kv[1]!];
    out[section]![kv[1]!] = prev === undefined ? kv[2]! : `${prev}\n${kv[2]!}`;
  }
  return out;
}

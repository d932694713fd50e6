/**
 * @module domainXml/serialize
 * The only module that imports xml2js. Parses libvirt domain XML into a small ordered tree
 * (`XmlElement`: name, attributes, children in document order) and writes it back, plus a
 * handful of tree helpers (find / ensure / remove child, text get/set).
 *
 * What survives a round trip: every element, attribute (prefixed names such as `nova:` and
 * `xmlns:*` are kept verbatim), text and the relative order of all siblings, including
 * interleaved same-name siblings (`<disk/><interface/><disk/>`). What does not: comments,
 * processing instructions, the XML declaration, CDATA framing (its text is kept and
 * escaped), attribute quoting and indentation — none of which libvirt gives meaning to.
 * Known leniency: sax silently keeps the first of two same-name attributes on one element
 * (libxml2 would refuse the document).
 *
 * Parsing uses xml2js (`explicitChildren` + `preserveChildrenOrder` + `charsAsChildren`).
 * Writing is NOT done with `xml2js.Builder`: the Builder renders from name-keyed objects,
 * so it groups same-name children together and would move a domain's second `<disk>` in
 * front of its `<interface>`. The writer below is a plain recursive printer; escaping
 * follows XML 1.0 §2.4 / §3.1 (`&`, `<`, `>` and CR in text; additionally `'`, `"`, tab
 * and LF in attribute values, which are always single-quoted as libvirt writes them).
 *
 * Malformed input never escapes as a parser stack: it becomes `InvalidInput(field, reason)`.
 */
import { Parser } from 'xml2js';
import { InvalidInput } from '../errors';

export interface XmlElement {
  name: string;
  /** Attributes in document order (order is not significant to libvirt). */
  attrs: Record<string, string>;
  /** Element and text children, in document order. */
  children: XmlNode[];
}
/** A child is an element or a run of character data. */
export type XmlNode = XmlElement | string;

/** xml2js' node shape with explicitChildren/preserveChildrenOrder/charsAsChildren. */
interface X2JNode {
  '#name': string;
  $?: Record<string, string>;
  $$?: X2JNode[];
  _?: string;
}

/** Narrow view of xml2js internals used only to notice content after the root element. */
interface SaxHandle {
  saxParser?: {
    ended?: boolean;
    onopentag?: (this: unknown, node: unknown) => unknown;
    onerror?: (this: unknown, err: unknown) => unknown;
    ENTITIES?: Record<string, string>;
  };
}

const PARSER_OPTIONS = {
  explicitRoot: true,
  explicitChildren: true,
  preserveChildrenOrder: true,
  charsAsChildren: true,
  includeWhiteChars: true,
  trim: false,
  normalize: false,
  normalizeTags: false,
  strict: true,
  async: false,
  xmlns: false,
} as const;

function isElement(n: XmlNode): n is XmlElement {
  return typeof n !== 'string';
}

function fromX2J(name: string, n: X2JNode): XmlElement {
  const el: XmlElement = { name, attrs: { ...(n.$ ?? {}) }, children: [] };
  for (const c of n.$$ ?? []) {
    // Text (and CDATA) runs arrive as pseudo-elements named __text__ (xml2js `childkey`).
    if (c['#name'] === '__text__') el.children.push(c._ ?? '');
    else el.children.push(fromX2J(c['#name'], c));
  }
  // Whitespace between elements is layout, not content: drop it where elements are present
  // (the writer re-indents). A text-only element keeps its text exactly, even blanks.
  if (el.children.some(isElement)) el.children = el.children.filter((c) => isElement(c) || c.trim() !== '');
  else el.children = el.children.length ? [(el.children as string[]).join('')] : []; // text runs only
  return el;
}

/** Parse XML into an ordered tree; `field` names the input in the `InvalidInput` error. */
export function parseXml(xml: string, field = 'domain_xml'): XmlElement {
  if (typeof xml !== 'string' || xml.trim() === '') throw new InvalidInput(field, 'empty XML document');
  const parser = new Parser(PARSER_OPTIONS);
  let result: Record<string, X2JNode> | null | undefined;
  let error: Error | null = null;
  let trailing = false;
  // xml2js stops listening once the root closes (it resets itself and swallows later sax
  // errors), so a second root or text after the root would be dropped silently. Neither is
  // well-formed (XML 1.0 §2.1 `document`), so notice both on the sax parser it started with.
  const sax = (parser as unknown as SaxHandle).saxParser;
  const open = sax?.onopentag;
  const fail = sax?.onerror;
  if (sax && open && fail) {
    sax.onopentag = function onopentag(this: unknown, node: unknown) {
      if (sax.ended) trailing = true;
      return open.call(this, node);
    };
    sax.onerror = function onerror(this: unknown, err: unknown) {
      if (sax.ended) trailing = true;
      return fail.call(this, err);
    };
    // sax also knows the HTML entities (&nbsp; ...), which libxml2 (and so libvirt) rejects:
    // keep to XML's five predefined entities (XML 1.0 §4.6).
    sax.ENTITIES = Object.assign(Object.create(null) as Record<string, string>, { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" });
  }
  try {
    parser.parseString(xml, (err: Error | null, r: Record<string, X2JNode> | null) => {
      if (result === undefined && error === null) {
        error = err;
        result = r;
      } else if (err) {
        trailing = true;
      }
    });
  } catch (e) {
    error ??= e instanceof Error ? e : new Error(String(e));
  }
  if (error) throw new InvalidInput(field, `not well-formed XML: ${firstLine(error.message)}`);
  if (trailing) throw new InvalidInput(field, 'not well-formed XML: content after the root element');
  if (!result) throw new InvalidInput(field, 'no root element');
  const rootName = Object.keys(result)[0];
  return fromX2J(rootName, result[rootName]);
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

const escText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
/** Attribute values also keep tab/LF/CR as references: a parser normalises literal ones to spaces (XML 1.0 §3.3.3). */
const escAttr = (s: string): string => escText(s).replace(/'/g, '&apos;').replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');

/** Write a tree as indented XML (two spaces, single-quoted attributes, trailing newline). */
export function serializeXml(root: XmlElement): string {
  return write(root, '') + '\n';
}

function write(el: XmlElement, indent: string): string {
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}='${escAttr(v)}'`)
    .join('');
  if (el.children.length === 0) return `${indent}<${el.name}${attrs}/>`;
  if (!el.children.some(isElement)) return `${indent}<${el.name}${attrs}>${escText((el.children as string[]).join(''))}</${el.name}>`;
  const inner = el.children.map((c) => (isElement(c) ? write(c, indent + '  ') : `${indent}  ${escText(c.trim())}`)).join('\n');
  return `${indent}<${el.name}${attrs}>\n${inner}\n${indent}</${el.name}>`;
}

// ---- tree helpers --------------------------------------------------------------------

/** Build an element. */
export function el(name: string, attrs: Record<string, string> = {}, children: XmlNode[] = []): XmlElement {
  return { name, attrs, children };
}

/** First child element called `name`. */
export function child(parent: XmlElement | undefined, name: string): XmlElement | undefined {
  return parent?.children.find((c): c is XmlElement => isElement(c) && c.name === name);
}

/** All child elements called `name`, in order. */
export function childrenNamed(parent: XmlElement | undefined, name: string): XmlElement[] {
  return (parent?.children ?? []).filter((c): c is XmlElement => isElement(c) && c.name === name);
}

/** All child elements, in order (text dropped). */
export function elementChildren(parent: XmlElement): XmlElement[] {
  return parent.children.filter(isElement);
}

/**
 * The first child called `name`; created when missing. A new child goes right after the
 * last existing sibling named in `after` (the first that exists, searched in order), or at
 * the end. An existing child never moves.
 */
export function ensureChild(parent: XmlElement, name: string, after: readonly string[] = []): XmlElement {
  const found = child(parent, name);
  if (found) return found;
  const made = el(name);
  insertAfter(parent, made, after);
  return made;
}

/** Insert `node` after the last child named by the first existing name in `after`, else append. */
export function insertAfter(parent: XmlElement, node: XmlElement, after: readonly string[]): void {
  for (const a of after) {
    let idx = -1;
    parent.children.forEach((c, i) => {
      if (isElement(c) && c.name === a) idx = i;
    });
    if (idx >= 0) {
      parent.children.splice(idx + 1, 0, node);
      return;
    }
  }
  parent.children.push(node);
}

/** Remove every child element called `name`; returns how many were removed. */
export function removeChildren(parent: XmlElement, name: string): number {
  const before = parent.children.length;
  parent.children = parent.children.filter((c) => !isElement(c) || c.name !== name);
  return before - parent.children.length;
}

/** Text content of an element (its direct text children, trimmed); undefined when none. */
export function textOf(e: XmlElement | undefined): string | undefined {
  if (!e) return undefined;
  const t = e.children
    .filter((c): c is string => !isElement(c))
    .join('')
    .trim();
  return t === '' ? undefined : t;
}

/** Replace an element's content with text. */
export function setText(e: XmlElement, text: string): void {
  e.children = [text];
}

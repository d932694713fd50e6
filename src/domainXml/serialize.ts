/**
 * @module domainXml/serialize
 * The only module that imports xml2js. Parses libvirt domain XML into a small ordered tree
 * (element order, attributes, text and unknown elements preserved) and writes it back.
 * Writing is done here by hand because xml2js' builder groups children by name and would
 * reorder a domain's devices; escaping follows XML 1.0 (&, <, > in text; also " in attributes).
 */
import { parseString } from 'xml2js';
import { InvalidInput } from '../errors';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

interface X2J {
  '#name': string;
  $?: Record<string, string>;
  $$?: X2J[];
  _?: string;
}

function fromX2J(n: X2J): XmlElement {
  const el: XmlElement = { name: n['#name'], attrs: { ...(n.$ ?? {}) }, children: [] };
  for (const c of n.$$ ?? []) {
    if (c['#name'] === '__text__') {
      if (c._ !== undefined && c._.trim() !== '') el.children.push(c._);
    } else el.children.push(fromX2J(c));
  }
  if (!n.$$ && n._ !== undefined && n._.trim() !== '') el.children.push(n._);
  return el;
}

export function parseXml(xml: string, field = 'domain_xml'): XmlElement {
  let root: XmlElement | undefined;
  let err: Error | null = null;
  parseString(
    xml,
    { explicitChildren: true, preserveChildrenOrder: true, charsAsChildren: true, explicitRoot: true, async: false, trim: false, normalize: false, strict: true },
    (e: Error | null, r: Record<string, X2J> | null) => {
      err = e;
      if (r) {
        const k = Object.keys(r)[0];
        root = fromX2J({ ...r[k], '#name': k });
      }
    },
  );
  if (err || !root) throw new InvalidInput(field, `not well-formed XML: ${String((err as Error | null)?.message ?? 'empty').split('\n')[0]}`);
  return root;
}

const escText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escAttr = (s: string) => escText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;');

export function serializeXml(el: XmlElement, indent = ''): string {
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}='${escAttr(v)}'`)
    .join('');
  if (el.children.length === 0) return `${indent}<${el.name}${attrs}/>`;
  if (el.children.every((c) => typeof c === 'string')) return `${indent}<${el.name}${attrs}>${escText((el.children as string[]).join(''))}</${el.name}>`;
  const inner = el.children.map((c) => (typeof c === 'string' ? indent + '  ' + escText(c.trim()) : serializeXml(c, indent + '  '))).join('\n');
  return `${indent}<${el.name}${attrs}>\n${inner}\n${indent}</${el.name}>`;
}

// ---- tree helpers ----
export function el(name: string, attrs: Record<string, string> = {}, children: XmlNode[] = []): XmlElement {
  return { name, attrs, children };
}
export function child(parent: XmlElement, name: string): XmlElement | undefined {
  return parent.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === name);
}
export function childrenNamed(parent: XmlElement, name: string): XmlElement[] {
  return parent.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
}
export function ensureChild(parent: XmlElement, name: string, at?: number): XmlElement {
  const found = child(parent, name);
  if (found) return found;
  const e = el(name);
  if (at === undefined || at > parent.children.length) parent.children.push(e);
  else parent.children.splice(at, 0, e);
  return e;
}
export function removeChildren(parent: XmlElement, name: string): void {
  parent.children = parent.children.filter((c) => typeof c === 'string' || c.name !== name);
}
export function textOf(e: XmlElement | undefined): string | undefined {
  if (!e) return undefined;
  const t = e.children.filter((c): c is string => typeof c === 'string').join('');
  return t === '' ? undefined : t.trim();
}
export function setText(e: XmlElement, text: string): void {
  e.children = [text];
}

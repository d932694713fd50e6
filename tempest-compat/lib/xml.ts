/**
 * @module tempest-compat/lib/xml
 * Domain XML as a small element tree (parsed with xml2js), with the lookups the whitebox
 * plugin does on `virsh dumpxml` (`find('./os/loader')`, `.get('readonly')`, `.items()`).
 */
import { parseStringPromise } from 'xml2js';

export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlElement[];
}

function convert(tag: string, node: unknown): XmlElement {
  if (typeof node === 'string') return { tag, attrs: {}, text: node, children: [] };
  const o = (node ?? {}) as Record<string, unknown>;
  const el: XmlElement = { tag, attrs: {}, text: '', children: [] };
  for (const [k, v] of Object.entries(o)) {
    if (k === '$') el.attrs = { ...(v as Record<string, string>) };
    else if (k === '_') el.text = String(v);
    else for (const c of v as unknown[]) el.children.push(convert(k, c));
  }
  return el;
}

export async function parseDomainXml(xml: string): Promise<XmlElement> {
  const doc = (await parseStringPromise(xml, { explicitArray: true, attrkey: '$', charkey: '_', trim: true })) as Record<string, unknown>;
  const [tag, root] = Object.entries(doc)[0];
  return convert(tag, root);
}

/** ElementTree-like `find` with a `./a/b` path (no predicates). */
export function find(el: XmlElement, path: string): XmlElement | null {
  return findAll(el, path)[0] ?? null;
}

export function findAll(el: XmlElement, path: string): XmlElement[] {
  const parts = path.replace(/^\.\//, '').split('/').filter(Boolean);
  let cur = [el];
  for (const p of parts) cur = cur.flatMap((e) => e.children.filter((c) => c.tag === p));
  return cur;
}

/**
 * Structural XML comparison for golden tests (nova's `assertXmlEqual`, virt-manager's
 * golden files): element names, order of child elements, attribute names and values and
 * trimmed text must match; attribute order, quoting, indentation and whitespace-only text
 * do not matter. A failure names the first differing path, e.g.
 * `/domain/os/loader[1]/@secure: expected "yes", got "no"`.
 */
import { parseXml, type XmlElement, type XmlNode } from '../../../src/domainXml/serialize';

export interface XmlDiff {
  path: string;
  message: string;
}

const isEl = (n: XmlNode): n is XmlElement => typeof n !== 'string';

function textKey(e: XmlElement): string {
  return e.children
    .filter((c): c is string => !isEl(c))
    .join('')
    .trim();
}

function compare(a: XmlElement, b: XmlElement, path: string): XmlDiff | null {
  if (a.name !== b.name) return { path, message: `element name: expected <${b.name}>, got <${a.name}>` };
  const keys = new Set([...Object.keys(a.attrs), ...Object.keys(b.attrs)]);
  for (const k of [...keys].sort()) {
    if (!(k in b.attrs)) return { path: `${path}/@${k}`, message: `unexpected attribute (value ${JSON.stringify(a.attrs[k])})` };
    if (!(k in a.attrs)) return { path: `${path}/@${k}`, message: `missing attribute (expected ${JSON.stringify(b.attrs[k])})` };
    if (a.attrs[k] !== b.attrs[k]) return { path: `${path}/@${k}`, message: `expected ${JSON.stringify(b.attrs[k])}, got ${JSON.stringify(a.attrs[k])}` };
  }
  const ta = textKey(a);
  const tb = textKey(b);
  if (ta !== tb) return { path: `${path}/text()`, message: `expected ${JSON.stringify(tb)}, got ${JSON.stringify(ta)}` };
  const ca = a.children.filter(isEl);
  const cb = b.children.filter(isEl);
  const seen: Record<string, number> = {};
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
    const name = (cb[i] ?? ca[i]).name;
    seen[name] = (seen[name] ?? 0) + 1;
    const p = `${path}/${name}[${seen[name]}]`;
    if (!ca[i]) return { path: p, message: `missing element <${cb[i].name}> (child ${i + 1} of ${path})` };
    if (!cb[i]) return { path: p, message: `unexpected element <${ca[i].name}> (child ${i + 1} of ${path})` };
    const d = compare(ca[i], cb[i], p);
    if (d) return d;
  }
  return null;
}

/** First structural difference between two documents, or null when they are equal. */
export function xmlDiff(actual: string | XmlElement, expected: string | XmlElement): XmlDiff | null {
  const a = typeof actual === 'string' ? parseXml(actual, 'actual') : actual;
  const b = typeof expected === 'string' ? parseXml(expected, 'expected') : expected;
  return compare(a, b, `/${b.name}`);
}

/** Throws an AssertionError-like Error naming the differing path. */
export function assertXmlEqual(actual: string | XmlElement, expected: string | XmlElement, label = 'XML'): void {
  const d = xmlDiff(actual, expected);
  if (d) {
    const err = new Error(`${label} differs at ${d.path}: ${d.message}`);
    err.name = 'AssertionError';
    throw err;
  }
}

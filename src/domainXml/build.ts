/**
 * @module domainXml/build
 * `buildDomainXml`: patch Nova's own guest XML (firmware elements only; everything else is
 * kept) or build a minimal bootable domain from the spec.
 */
import type { DomainSpec } from './types';
import { el, parseXml, serializeXml, child, textOf } from './serialize';
import { MINIMAL, PATCH } from './configurators';
import { InvalidInput } from '../errors';

export function buildDomainXml(spec: DomainSpec): string {
  if (spec.baseXml) {
    const dom = parseXml(spec.baseXml, 'domain_xml');
    if (dom.name !== 'domain') throw new InvalidInput('domain_xml', `root element is <${dom.name}>, expected <domain>`);
    // The base XML is Nova's guest for this instance; its name must be the one we derived,
    // because the NVRAM file is named after it.
    const name = textOf(child(dom, 'name'));
    if (name && name !== spec.name) throw new InvalidInput('domain_xml', `<name>${name}</name> does not match the instance name ${spec.name}`);
    for (const c of PATCH) c(spec, dom);
    return serializeXml(dom) + '\n';
  }
  const dom = el('domain');
  for (const c of MINIMAL) c(spec, dom);
  return serializeXml(dom) + '\n';
}

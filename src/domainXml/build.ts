/**
 * @module domainXml/build
 * `buildDomainXml(spec)`: with `spec.baseXml` (Nova's own guest XML), patch identity,
 * `<os>` firmware and `<features><smm>` and keep every other element as it was; without
 * it, build a minimal bootable domain. Both run a listed sequence of configurators.
 * Pure: no config, no filesystem.
 */
import type { DomainSpec } from './types';
import { child, el, parseXml, serializeXml, textOf } from './serialize';
import { MINIMAL, PATCH, type Configurator } from './configurators';
import { InvalidInput } from '../errors';

/** Domain XML for `spec`, in the explicit firmware form (never `<os firmware='efi'>`). */
export function buildDomainXml(spec: DomainSpec): string {
  let dom;
  let steps: readonly Configurator[];
  if (spec.baseXml !== undefined) {
    dom = parseXml(spec.baseXml, 'domain_xml');
    if (dom.name !== 'domain') throw new InvalidInput('domain_xml', `root element is <${dom.name}>, expected <domain>`);
    // The store is named after the domain: a base XML for another name means Nova's and the
    // sidecar's instance_name_template disagree. Refuse rather than rename silently.
    const baseName = textOf(child(dom, 'name'));
    if (baseName !== undefined && baseName !== spec.name) {
      throw new InvalidInput(
        'domain_xml',
        `<name>${baseName}</name> does not match the instance name ${spec.name} (check [DEFAULT] instance_name_template on both sides)`,
      );
    }
    steps = PATCH;
  } else {
    dom = el('domain');
    steps = MINIMAL;
  }
  for (const step of steps) step(spec, dom);
  return serializeXml(dom);
}

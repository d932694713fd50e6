/**
 * @module domainXml
 * Pure domain-XML layer: `buildDomainXml` (configurators over an ordered tree),
 * `readDomainFirmware`, `domainNameOf`, `setNvramPath`. Only `serialize.ts` imports xml2js.
 */
export { buildDomainXml } from './build';
export { readDomainFirmware, domainNameOf, setNvramPath } from './read';
export { parseXml, serializeXml } from './serialize';
export { yesNo, osFirmwareModel } from './model';
export type * from './types';

/**
 * @module domainXml
 * Pure domain-XML layer: `buildDomainXml` (configurators over an ordered tree),
 * `readDomainFirmware`, `domainNameOf`, `setNvramPath`, `setSerialSocketPath`. Only `serialize.ts` imports xml2js.
 */
export { buildDomainXml } from './build';
export { readDomainFirmware, domainNameOf, setNvramPath, setSerialSocketPath } from './read';
export { parseXml, serializeXml, type XmlElement, type XmlNode } from './serialize';
export { yesNo, osFirmwareFromSelection, osFirmwareFromXml, type OsFirmwareModel, type LoaderModel, type NvramModel } from './model';
export type { DomainSpec, DomainFirmwareView } from './types';

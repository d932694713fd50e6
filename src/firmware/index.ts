/**
 * @module firmware
 * Detect once (`discover.ts`, the only filesystem reader, built from `operatorMap.ts`,
 * `descriptors.ts` and `entryChecks.ts`), then decide with pure functions: `request.ts` (image +
 * flavor ⇒ BootRequest), `select.ts` (BootRequest ⇒ FirmwareSelection), `pinning.ts` (keep or
 * re-select pinned firmware), `views.ts` (host capabilities and the API view).
 * Vocabulary in `types.ts`; machine globs and host arch in `machine.ts`.
 */
export { discoverFirmware, DESCRIPTOR_RANK_BASE, type DiscoverOptions } from './discover';
export { listDescriptors, descriptorEntries } from './descriptors';
export { operatorMapEntries, defaultMachines } from './operatorMap';
export { validateEntry, checkTemplateConsistency, CODE_BUILDS, KNOWN_VARS_SIZES, type CodeBuildRule, type EntryCheck } from './entryChecks';
export { resolveBootRequest, type RequestInput } from './request';
export { selectFirmware, candidatesFor, secureBootBlocker, type HostFirmwareOptions } from './select';
export { reuseOrReselect, type PinningOutcome } from './pinning';
export {
  hostFirmwareCapabilities,
  describeInventory,
  type HostFirmwareCapabilities,
  type ArchFirmwareCapabilities,
  type FirmwareEntryView,
  type FirmwareInventoryView,
} from './views';
export { hostArch, globMatch, machineMatches, MACHINE_ALIASES, isX86 } from './machine';
export type * from './types';

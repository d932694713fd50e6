/**
 * @module firmware
 * Detect (discover.ts, the only filesystem reader), then select with pure functions
 * (request.ts, select.ts). Vocabulary in types.ts.
 */
export { discoverFirmware, listDescriptors, validateEntry, CODE_BUILDS, defaultMachines } from './discover';
export { resolveBootRequest } from './request';
export { selectFirmware, reuseOrReselect, hostFirmwareCapabilities, describeInventory, hostArch, globMatch, machineMatches } from './select';
export type * from './types';

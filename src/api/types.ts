/**
 * @module api/types
 * Aliases over the generated OpenAPI types (`generated.ts` is read-only; regenerate with
 * `npm run gen:types`). Handlers and clients import from here, never from `generated.ts`.
 */
import type { components, operations } from './generated';

export type Schemas = components['schemas'];
export type ErrorBody = Schemas['Error'];
export type InstanceViewBody = Schemas['InstanceView'];
export type SpawnRequest = Schemas['SpawnRequest'];
export type DestroyRequest = Schemas['DestroyRequest'];
export type RebootRequest = Schemas['RebootRequest'];
export type CapabilitiesBody = Schemas['Capabilities'];
export type FirmwareInventoryBody = Schemas['FirmwareInventory'];
export type InstanceListBody = Schemas['InstanceList'];
export type OperationId = keyof operations;
export type NvramVariableWriteBody = Schemas['NvramVariableWrite'];
export type NvramBootWriteBody = Schemas['NvramBootWrite'];
export type NvramEditResultBody = Schemas['NvramEditResult'];
export type SecureBootSummaryBody = Schemas['SecureBootSummary'];

/**
 * @module wire
 * The HTTP API's types, as generated from `openapi/nova-uefi-shim.yaml` into `generated.ts`
 * (read-only; `npm run gen:types` regenerates it, `npm run check:types` fails when it is
 * stale). Everything else imports these aliases, never `generated.ts`.
 *
 * A bottom layer: types only, no code. The driver's contract takes its argument types from
 * here (`ArgsOf`), so the schema that validates a request and the type the driver receives
 * are one source.
 */
import type { components, operations } from './generated';

export type Schemas = components['schemas'];
export type OperationId = keyof operations;

type Envelope = Schemas['VersionedObjectEnvelope'];

/**
 * A request body as the driver receives it: validated against its schema, then unwrapped
 * from oslo.versionedobjects primitives (`nova/objects.unwrap`). Every "object, or its
 * versioned-object envelope" in the schema is the plain object here.
 */
export type Unwrapped<T> = T extends Envelope
  ? never
  : T extends readonly (infer E)[]
    ? Unwrapped<E>[]
    : T extends object
      ? { [K in keyof T]: Unwrapped<T[K]> }
      : T;

/** The JSON request body of an operation (never for operations without one). */
export type RequestOf<Op extends OperationId> = operations[Op] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;

/** The body of an operation's 200 answer. */
export type ResponseOf<Op extends OperationId> = operations[Op] extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never;

/** What the driver receives for an operation: its request body, unwrapped. */
export type ArgsOf<Op extends OperationId> = Unwrapped<RequestOf<Op>>;

export type ErrorBody = Schemas['Error'];
export type InstanceViewBody = Schemas['InstanceView'];
export type CapabilitiesBody = Schemas['Capabilities'];
export type FirmwareInventoryBody = Schemas['FirmwareInventory'];
export type InstanceListBody = Schemas['InstanceList'];
export type ReplicaInstancesBody = Schemas['ReplicaInstances'];
export type NvramVariableWriteBody = Schemas['NvramVariableWrite'];
export type NvramBootWriteBody = Schemas['NvramBootWrite'];
export type NvramEditResultBody = Schemas['NvramEditResult'];
export type SecureBootSummaryBody = Schemas['SecureBootSummary'];
export type SecureBootWriteBody = Schemas['SecureBootWrite'];
export type SecureBootWriteResultBody = Schemas['SecureBootWriteResult'];
export type SecureBootInventoryBody = Schemas['SecureBootInventory'];
export type SecureBootRotationBody = Schemas['SecureBootRotation'];
export type SecureBootRotationRequestBody = Schemas['SecureBootRotationRequest'];
export type ReadinessBody = Schemas['Readiness'];
export type MigrateDataBody = Schemas['MigrateData'];
export type NvramBackupBody = Schemas['NvramBackup'];
export type NvramBackupListBody = Schemas['NvramBackupList'];
export type NvramRestoreRequestBody = Schemas['NvramRestoreRequest'];
export type NvramRestoreResultBody = Schemas['NvramRestoreResult'];

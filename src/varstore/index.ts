/**
 * @module varstore
 * edk2 UEFI variable store library: probe, parse, write, edit, decode, Secure Boot summary and
 * the version-2 JSON format. Pure (Buffers in, Buffers/objects out); file I/O belongs to the
 * callers (`src/cli/nvram.ts`, the HTTP handlers). Every failure is a `VarStoreError`.
 */
export * from './guids';
export { VarStoreError, VARSTORE_ERROR_STATUS, isVarStoreError, type VarStoreErrorReason } from './errors';
export { probeVarStore, findNvDataFv, type VarStoreFormat } from './probe';
export { attrNames, ATTR, ATTR_NV_BS_RT, STATE_LIVE } from './layout';
export { decodeEfiTime, formatEfiTime, isZeroTime, efiTimeFromDate, compareEfiTime, type EfiTime } from './efiTime';
export type { Variable, StoredVariable, VarStore, StoreFormat, FvHeaderInfo, StoreHeaderInfo, BlockMapEntry } from './types';
export { parseVarStore, type ParseOptions } from './parse';
export { writeVarStore, encodeRecord } from './write';
export { setVariable, deleteVariable, setBootOrder, setBootNext, findVariable, bootOptionName, bootOptionNumber, type VariableUpdate } from './edit';
export { diffVariables, isEmptyDiff, type VariableDiff, type VariableChange, type ChangedField } from './diff';
export { devicePathToText } from './devicePath';
export { decodeLoadOption, type LoadOption } from './loadOption';
export {
  parseSignatureLists,
  readSignatureLists,
  encodeSignatureLists,
  signatureTypeName,
  describeCertificate,
  summariseSignatureLists,
  type RawSignatureList,
  type SignatureList,
  type SignatureEntry,
  type CertificateInfo,
  type SignatureDbSummary,
} from './signatureList';
export { decodeVariable, decodeBootOrder, type DecodedVariable } from './decode';
export { secureBootSummary, type SecureBootSummary, type KeyDatabase, type CertificateDetail } from './secureBoot';
export { exportJson, importJson, JSON_VERSION, type VarStoreJson, type JsonVariable } from './json';
export { variableKey } from './storable';
export {
  KEY_DBS,
  RSA_MIN_BITS,
  RSA_MAX_BITS,
  certificateProblem,
  certificateInfo,
  parseKeyMaterial,
  checkItems,
  typeProblem,
  sameItem,
  type KeyDbName,
  type SignatureItem,
  type KeyCheckOptions,
  type MaterialResult,
} from './secureBootKeys';
export { applyKeyChanges, databaseItems, dbGuid, ATTR_AUTH_DB, type KeyChange, type KeyChangeReport, type EnrollResult } from './enroll';

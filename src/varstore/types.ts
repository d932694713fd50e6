/**
 * @module varstore/types
 * Data shapes shared by the parser, the writer and the edit helpers. Types only.
 */

export type StoreFormat = 'authenticated' | 'plain';

/** A variable as callers hand it to the writer and the edit helpers. */
export interface Variable {
  name: string;
  /** Canonical GUID string (lower case on output; either case accepted on input). */
  guid: string;
  /** EFI_VARIABLE_* bits. */
  attr: number;
  data: Buffer;
  /** EFI_TIME, 16 bytes; absent means zero (only time-based authenticated variables carry one). */
  timestamp?: Buffer;
  /** Authenticated stores only; absent means 0. */
  monotonicCount?: bigint;
  /** Authenticated stores only; absent means 0. */
  pubKeyIndex?: number;
}

/** One variable record as read from a store. */
export interface StoredVariable extends Variable {
  timestamp: Buffer;
  monotonicCount: bigint;
  pubKeyIndex: number;
  /** Record State byte: 0x3F live, 0x3E live while no 0x3F twin exists, 0x3C/0x3D deleted, ... */
  state: number;
  /** Whether this record is the effective value of its name+GUID. */
  live: boolean;
  /** Absolute file offset of the record header. */
  offset: number;
  /** Header + name + data bytes (before 4-byte alignment). */
  recordSize: number;
}

export interface BlockMapEntry {
  numBlocks: number;
  length: number;
}

export interface FvHeaderInfo {
  /** Absolute offset of the NvData firmware volume in the file (0 for VARS files). */
  offset: number;
  length: number;
  headerLength: number;
  /** Stored header checksum (verified: the header's 16-bit words sum to 0). */
  checksum: number;
  attributes: number;
  revision: number;
  blockMap: BlockMapEntry[];
}

export interface StoreHeaderInfo {
  format: StoreFormat;
  /** Store signature GUID (gEfiAuthenticatedVariableGuid or gEfiVariableGuid). */
  guid: string;
  /** Absolute offset of the VARIABLE_STORE_HEADER. */
  offset: number;
  /** Size field: store bytes including the 28-byte header. */
  size: number;
  /** Absolute offset of the first variable record. */
  start: number;
  /** Absolute end offset of the store (offset + size). */
  end: number;
  formatByte: number;
  stateByte: number;
  /** 60 (authenticated) or 32 (plain). */
  recordHeaderSize: number;
}

export interface VarStore {
  fileSize: number;
  fv: FvHeaderInfo;
  store: StoreHeaderInfo;
  /** Live variables in record order; with `includeDeleted`, every record. */
  variables: StoredVariable[];
  /** Count of all records (live and not). */
  recordCount: number;
  /** Records that are not live (deleted, in transition with a live twin, half-written). */
  deletedCount: number;
  /** Absolute offset just after the last record (4-byte aligned): where the next record goes. */
  listEnd: number;
  /** Bytes between `listEnd` and the store end. */
  freeBytes: number;
  /** Whether those free bytes are all 0xFF (erased), so records can be appended in place. */
  freeSpaceErased: boolean;
}

/**
 * @module replica
 * Replicas of variable stores off this host: the store backends (`directory`, `s3`), the
 * object format, the keys and the generation log. `openReplicas(config)` builds what
 * `[replica]` asks for, or null for `backend = none`.
 */
import type { Config } from '../config';
import { loadKeyring } from './keys';
import { DirectoryReplicaStore } from './directory';
import { S3ReplicaStore, s3OptionsFrom } from './s3';
import { ReplicaLog } from './generations';
import type { ReplicaStore } from './types';

export type { ReplicaStore, ClaimEntry, ProbeResult } from './types';
export type { GenerationEntry, ReadResult, WriteRequest, WriteResult } from './generations';
export type { GenerationReason, ReplicaHeader } from './format';
export type { Keyring } from './keys';
export { ReplicaLog, toPrune } from './generations';
export { ReplicaCorrupt, ReplicaFenced, ReplicaKeyError, ReplicaUnavailable } from './errors';

/** The backend `[replica] backend` names. */
export function replicaStoreFor(config: Config): ReplicaStore | null {
  const r = config.replica;
  switch (r.backend) {
    case 'none':
      return null;
    case 'directory':
      return new DirectoryReplicaStore(r.path);
    case 's3':
      return new S3ReplicaStore(s3OptionsFrom(r));
  }
}

/** The generation log over the configured backend and keys; null for `backend = none`. Reads the key files. */
export function openReplicas(config: Config, store: ReplicaStore | null = replicaStoreFor(config)): ReplicaLog | null {
  if (!store) return null;
  const r = config.replica;
  const keys = loadKeyring(r.encryption_key_file, r.old_key_files);
  return new ReplicaLog(store, keys, { prefix: r.prefix, host: config.DEFAULT.host, keep: r.keep });
}

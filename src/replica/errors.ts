/**
 * @module replica/errors
 * What can go wrong with replicas, as typed errors the API maps like any Nova exception:
 * the store cannot be reached or refused a request (`ReplicaUnavailable`, 503: local work goes
 * on, the generation is retried); an object failed its GCM tag, its digest or its header checks
 * (`ReplicaCorrupt`: never written to a store, the previous generation is used); an object
 * written under a key this host does not hold (`ReplicaKeyError`: a configuration problem, said
 * as such); another host wrote the instance's newest generation (`ReplicaFenced`: this host no
 * longer owns the instance's replicas and writes none).
 */
import { NovaError } from '../errors';

export class ReplicaUnavailable extends NovaError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('ReplicaUnavailable', 503, `NVRAM replica store unavailable: ${what}`, options);
  }
}

export class ReplicaCorrupt extends NovaError {
  constructor(
    readonly objectKey: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('ReplicaCorrupt', 422, `NVRAM replica ${objectKey} is corrupt or was tampered with: ${reason}`, { ...options, details: { key: objectKey } });
  }
}

export class ReplicaKeyError extends NovaError {
  constructor(objectKey: string, keyId: string, known: readonly string[]) {
    super(
      'ReplicaKeyError',
      409,
      `NVRAM replica ${objectKey} was encrypted with key ${keyId}, which this host does not hold (its keys: ${known.join(', ') || 'none'}); ` +
        'set [replica] encryption_key_file or old_key_files to that key',
      { details: { key: objectKey, key_id: keyId } },
    );
  }
}

export class ReplicaFenced extends NovaError {
  constructor(
    readonly instanceUuid: string,
    readonly generation: number,
    readonly owner: string,
  ) {
    super(
      'ReplicaFenced',
      409,
      `NVRAM replicas of ${instanceUuid} belong to host ${owner} since generation ${generation}: this host writes none (the instance moved or was evacuated)`,
      { details: { generation, owner } },
    );
  }
}

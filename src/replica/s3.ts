/**
 * @module replica/s3
 * `ReplicaStore` on an S3 bucket through @aws-sdk/client-s3 (SigV4 by the SDK, never by hand):
 * OpenStack Swift with s3api, Ceph RGW, MinIO or AWS. Settings Swift 2.30's s3api needs
 * (replica-store.md): path-style addressing, and checksums only when an operation requires them
 * (the SDK's default aws-chunked upload is answered 501). Conditional PUT (`If-None-Match: *`)
 * is answered 501 too, so claims use the listing protocol of `replica/claim`, whose guarantee
 * rests on a listing showing every write completed before it (S3's strong consistency; Swift's
 * container update in the object PUT). Objects are deleted one by one (DeleteObjects needs a
 * Content-MD5 the SDK no longer sends).
 *
 * Every failure other than "no such key" is `ReplicaUnavailable` naming the operation, the
 * key and what the service or the network said.
 */
import { readFileSync } from 'node:fs';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import type { ReplicaConfig } from '../config';
import { claimByListing, groupClaims } from './claim';
import { checkKey, type ClaimEntry, type ProbeResult, type ReplicaStore } from './types';
import { ReplicaUnavailable } from './errors';

export interface S3StoreOptions {
  endpoint: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  forcePathStyle: boolean;
  timeoutMs: number;
}

/** The options from `[replica]`, reading `secret_key_file` (first line) when set. */
export function s3OptionsFrom(r: ReplicaConfig): S3StoreOptions {
  let secret = r.secret_key;
  if (r.secret_key_file) {
    try {
      secret = readFileSync(r.secret_key_file, 'utf8').split('\n')[0].trim();
    } catch (e) {
      throw new Error(`[replica] secret_key_file ${r.secret_key_file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  }
  return {
    endpoint: r.endpoint,
    bucket: r.bucket,
    region: r.region,
    accessKey: r.access_key,
    secretKey: secret,
    forcePathStyle: r.force_path_style,
    timeoutMs: r.timeout * 1000,
  };
}

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(e: unknown): number | undefined {
  return (e as SdkError)?.$metadata?.httpStatusCode;
}

function isNotFound(e: unknown): boolean {
  const n = (e as SdkError)?.name;
  return n === 'NoSuchKey' || n === 'NotFound' || statusOf(e) === 404;
}

export class S3ReplicaStore implements ReplicaStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  constructor(private readonly o: S3StoreOptions) {
    this.client = new S3Client({
      endpoint: o.endpoint,
      region: o.region,
      forcePathStyle: o.forcePathStyle,
      credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // One retry inside the SDK; the replica service retries later with back-off.
      maxAttempts: 2,
      requestHandler: { requestTimeout: o.timeoutMs, connectionTimeout: Math.min(o.timeoutMs, 5000) },
    });
  }

  describe(): string {
    return `s3 ${this.o.endpoint}/${this.o.bucket}`;
  }

  private fail(op: string, key: string, e: unknown): ReplicaUnavailable {
    const err = e as SdkError;
    const status = statusOf(e);
    const what = `${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err?.message ?? String(e)}`;
    return new ReplicaUnavailable(`${op} ${key} at ${this.describe()}: ${what}`, { cause: e });
  }

  async init(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.o.bucket }));
      return;
    } catch (e) {
      if (!isNotFound(e)) throw this.fail('HEAD bucket', this.o.bucket, e);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.o.bucket }));
    } catch (e) {
      const n = (e as SdkError).name;
      if (n !== 'BucketAlreadyOwnedByYou' && n !== 'BucketAlreadyExists') throw this.fail('create bucket', this.o.bucket, e);
    }
  }

  /** HEAD bucket, then one LIST of at most one key under `prefix` (the read the sidecar needs first). */
  async probe(prefix: string): Promise<ProbeResult> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.o.bucket }));
    } catch (e) {
      if (isNotFound(e)) return { exists: false, detail: `bucket ${this.o.bucket} does not exist` };
      throw this.fail('HEAD bucket', this.o.bucket, e);
    }
    let r: ListObjectsV2CommandOutput;
    try {
      r = await this.client.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, MaxKeys: 1 }));
    } catch (e) {
      throw this.fail('LIST', prefix || '/', e);
    }
    return { exists: true, detail: `bucket ${this.o.bucket} answers; ${r.Contents?.length ? 'replicas' : 'no replicas yet'} under '${prefix}'` };
  }

  async put(key: string, body: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: checkKey(key), Body: body, ContentType: 'application/octet-stream' }));
    } catch (e) {
      throw this.fail('PUT', key, e);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: checkKey(key) }));
      if (!r.Body) return Buffer.alloc(0);
      return Buffer.from(await r.Body.transformToByteArray());
    } catch (e) {
      if (isNotFound(e)) return null;
      throw this.fail('GET', key, e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r: ListObjectsV2CommandOutput = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
        );
        for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.fail('LIST', prefix, e);
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key: checkKey(key) }));
    } catch (e) {
      if (!isNotFound(e)) throw this.fail('DELETE', key, e);
    }
  }

  claim(key: string, owner: string): Promise<boolean> {
    return claimByListing({ putObject: (k, b) => this.put(k, b), listKeys: (p) => this.list(p) }, key, owner);
  }

  async claims(prefix: string): Promise<ClaimEntry[]> {
    return groupClaims(await this.list(prefix));
  }

  async dropClaim(key: string): Promise<void> {
    for (const k of await this.list(`${checkKey(key)}/`)) await this.delete(k);
  }
}

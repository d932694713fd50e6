/**
 * @module state/records
 * The sidecar's own per-instance records (pinned firmware, NVRAM path, vm state, the request
 * inputs needed to regenerate XML), one JSON file per instance under `<state_dir>/instances`,
 * written atomically so they survive a sidecar restart or crash.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, unlinkDurable, sweepTempFiles } from '../util/atomicFile';
import type { FirmwareSelection, BootRequest } from '../firmware/types';
import type { ImageProps } from '../nova/objects';
import { InvalidInput } from '../errors';

export type VmState = 'active' | 'stopped' | 'rescued' | 'resized' | 'migrating' | 'deleted-kept';

export interface InstanceRecord {
  uuid: string;
  id?: number;
  name: string;
  vmState: VmState;
  /** null for BIOS guests. */
  firmware: FirmwareSelection | null;
  /** Absolute NVRAM path; null for BIOS and stateless guests. */
  nvramPath: string | null;
  boot: BootRequest;
  imageProps: ImageProps;
  flavorExtraSpecs: Record<string, string>;
  vcpus: number;
  memoryMb: number;
  systemMetadata: Record<string, string>;
  /** Nova's base guest XML if the proxy sent one. */
  baseXml?: string;
  /** XML to restore on unrescue. */
  unrescueXml?: string;
  createdAt: string;
  updatedAt: string;
  [k: string]: unknown;
}

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

export function validateUuid(uuid: string, field = 'instance_uuid'): string {
  if (typeof uuid !== 'string' || !UUID_RE.test(uuid)) throw new InvalidInput(field, `'${String(uuid)}' is not a UUID`);
  return uuid.toLowerCase();
}

export class RecordStore {
  private readonly dir: string;
  constructor(stateDir: string) {
    this.dir = path.join(path.resolve(stateDir), 'instances');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await sweepTempFiles(this.dir);
  }

  private file(uuid: string): string {
    return path.join(this.dir, `${validateUuid(uuid)}.json`);
  }

  async get(uuid: string): Promise<InstanceRecord | null> {
    try {
      return JSON.parse(await fsp.readFile(this.file(uuid), 'utf8')) as InstanceRecord;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async put(rec: InstanceRecord): Promise<void> {
    rec.updatedAt = new Date().toISOString();
    await writeFileAtomic(this.file(rec.uuid), JSON.stringify(rec, null, 2) + '\n', { mode: 0o600, sparse: false });
  }

  async delete(uuid: string): Promise<void> {
    await unlinkDurable(this.file(uuid));
  }

  async list(): Promise<InstanceRecord[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    const out: InstanceRecord[] = [];
    for (const n of names.sort()) {
      if (!n.endsWith('.json')) continue;
      const r = await this.get(n.slice(0, -5)).catch(() => null);
      if (r) out.push(r);
    }
    return out;
  }
}

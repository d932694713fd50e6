/**
 * Start an in-process sidecar on loopback with its own temp state and NVRAM directories, a
 * synthetic firmware map and no descriptors (unless given), plus an axios client for it.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import axios, { type AxiosInstance } from 'axios';
import { rawSections, testConfig, type Config } from '../../src/config';
import { startSidecar, type Sidecar } from '../../src/server';
import { memoryLogger } from '../../src/util/log';
import { firmwareMapIni, firmwareTree, tmpDir, type FirmwareTree } from './firmwareFixture';

export const TOKEN = 'test-token-0123456789';

export interface TestSidecar extends Sidecar {
  http: AxiosInstance;
  root: string;
  nvramDir: string;
  fw: FirmwareTree;
  lines: Record<string, unknown>[];
  /** The sections the sidecar was started with. */
  sections: Partial<Record<string, Record<string, unknown>>>;
  /** Write `sections` as a config file under the sidecar's root (for `reload`, as SIGHUP does); returns its path. */
  writeConfig(sections: Partial<Record<string, Record<string, unknown>>>): string;
  stop(): Promise<void>;
}

let reloads = 0;

export async function startTestSidecar(over: Partial<Record<string, Record<string, unknown>>> = {}, fw?: FirmwareTree): Promise<TestSidecar> {
  const root = tmpDir('nus-sc-');
  const tree = fw ?? firmwareTree(path.join(root, 'fw'));
  const emptyDescriptors = path.join(root, 'descriptors');
  fs.mkdirSync(emptyDescriptors);
  const sections: Partial<Record<string, Record<string, unknown>>> = {
    DEFAULT: { host: 'compute1' },
    api: { host: '127.0.0.1', port: 0, auth_token: TOKEN },
    hypervisor: { backend: 'embedded', state_dir: path.join(root, 'state') },
    nvram: { nvram_dir: path.join(root, 'nvram') },
    libvirt: { hw_machine_type: { x86_64: 'q35' } },
    firmware: { descriptor_dirs: [emptyDescriptors] },
    ...tree.map,
  };
  for (const [k, v] of Object.entries(over)) sections[k] = { ...(sections[k] ?? {}), ...v };
  const config: Config = testConfig(sections);
  const log = memoryLogger();
  const sc = await startSidecar(config, { log, hostArch: 'x86_64' });
  await sc.recovered;
  const http = axios.create({ baseURL: sc.url, headers: { Authorization: `Bearer ${TOKEN}` }, validateStatus: () => true });
  return Object.assign(sc, {
    http,
    root,
    nvramDir: config.nvram.nvram_dir,
    fw: tree,
    lines: log.lines,
    sections,
    writeConfig: (next: Partial<Record<string, Record<string, unknown>>>) => {
      const file = path.join(root, `reload-${++reloads}.conf`);
      fs.writeFileSync(file, firmwareMapIni(rawSections(next)) + '\n');
      return file;
    },
    stop: async () => {
      await sc.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  });
}

let counter = 0x2a;
/** A plain-JSON Nova Instance with a fresh uuid and id. */
export function instance(extra: Record<string, unknown> = {}): { uuid: string; id: number; [k: string]: unknown } {
  return { uuid: randomUUID(), id: counter++, host: 'compute1', vcpus: 1, memory_mb: 256, ...extra };
}

export const UEFI_Q35 = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } };

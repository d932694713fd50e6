/**
 * @module tempest-compat/api/compute/base
 * `BaseUEFIComputeTest`: tempest's compute base (clients, `createTestServer` with cleanup,
 * `getHostForServer`) plus the whitebox-style domain-XML accessors and this suite's NVRAM
 * helpers (read, hash, marker write while shut off). Expected firmware comes from the host's
 * own `GET /v1/host/firmware` and, when set, the `[uefi] expected_*` options.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverClient, type FirmwareEntryView, type InstanceView } from '../../lib/clients/driver';
import { ServersClient, type ServerView } from '../../lib/clients/servers';
import type { FlavorRef, ImageProps } from '../../lib/config';
import { SkipException } from '../../lib/exceptions';
import { BaseTestCase } from '../../lib/test';
import { waitForServerStatus, waitForServerTermination } from '../../lib/waiters';
import { find, parseDomainXml, type XmlElement } from '../../lib/xml';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** fnmatch-style glob used by descriptors' machine lists. */
export function globMatch(glob: string, s: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(s);
}

/** Concrete names an alias may stand for, so `q35` matches `pc-q35-*`. */
function machineCandidates(m: string): string[] {
  const alias: Record<string, string> = { q35: 'pc-q35-99.0', pc: 'pc-i440fx-99.0', virt: 'virt-99.0' };
  return alias[m] ? [m, alias[m]] : [m];
}

export abstract class BaseUEFIComputeTest extends BaseTestCase {
  drivers!: Map<string, DriverClient>;
  serversClient!: ServersClient;
  hosts!: string[];

  override async skipChecks(): Promise<void> {
    await super.skipChecks();
    if (!this.conf.features.uefi_boot) throw new SkipException('[compute-feature-enabled] uefi_boot is False');
  }

  override async setupClients(): Promise<void> {
    await super.setupClients();
    this.drivers = new Map(this.conf.uefi.hosts.map((h) => [h.name, new DriverClient(h.name, h.url, this.conf.uefi.auth_token)]));
    this.hosts = this.conf.uefi.hosts.map((h) => h.name);
    this.serversClient = new ServersClient(this.drivers, { shutdownTimeout: this.conf.uefi.shutdown_timeout });
  }

  override async resourceCleanup(): Promise<void> {
    await this.serversClient?.drain();
    await super.resourceCleanup();
  }

  get flavorRef(): FlavorRef {
    return this.conf.compute.flavor_ref;
  }
  get flavorRefAlt(): FlavorRef {
    return this.conf.compute.flavor_ref_alt;
  }

  /** tempest `create_test_server(wait_until=...)`; registers wait-for-termination then delete (LIFO: delete first). */
  async createTestServer(o: { image: ImageProps; flavor?: FlavorRef; host?: string; waitUntil?: string | null; name?: string }): Promise<ServerView> {
    const server = this.serversClient.createServer({
      image: o.image,
      flavor: o.flavor ?? this.flavorRef,
      host: o.host,
      name: o.name ?? `tempest-${this.testName ?? 'class'}`,
    });
    this.addCleanup(waitForServerTermination, this.serversClient, server.id, { ignoreError: true });
    this.addCleanup(this.deleteServerIfExists.bind(this), server.id);
    if (o.waitUntil !== null) await waitForServerStatus(this.serversClient, server.id, o.waitUntil ?? 'ACTIVE');
    return this.serversClient.showServer(server.id);
  }

  async deleteServerIfExists(id: string): Promise<void> {
    await this.serversClient.drain();
    try {
      this.serversClient.deleteServer(id);
    } catch (e) {
      if ((e as { status?: number }).status !== 404) throw e;
    }
  }

  getHostForServer(id: string): string {
    return this.serversClient.showServer(id)['OS-EXT-SRV-ATTR:host'];
  }

  driverFor(id: string): DriverClient {
    return this.serversClient.driver(this.getHostForServer(id));
  }

  /** GET /v1/instances/{uuid} on the server's current host. */
  async instanceView(id: string, host?: string): Promise<InstanceView> {
    return this.serversClient.driver(host ?? this.getHostForServer(id)).showInstance(id);
  }

  /** Parsed domain XML (whitebox: `virsh dumpxml` on OS-EXT-SRV-ATTR:host). */
  async getServerXml(id: string, host?: string): Promise<XmlElement> {
    const v = await this.instanceView(id, host);
    this.assertIsNotNone(v.domain_xml, `instance ${id} has no domain_xml`);
    return parseDomainXml(v.domain_xml);
  }

  /** whitebox `_validate_uefi_os_xml_elements`. */
  validateUefiOsXml(dom: XmlElement, secureBoot: boolean): void {
    const os = find(dom, './os');
    this.assertIsNotNone(os, 'no <os> element');
    const loader = find(os, './loader');
    this.assertIsNotNone(loader, 'no <os><loader>');
    this.assertEqual(loader.attrs.readonly, 'yes', 'loader readonly');
    this.assertEqual(loader.attrs.secure ?? 'no', secureBoot ? 'yes' : 'no', 'loader secure');
    this.assertIsNotNone(find(os, './nvram'), 'no <os><nvram>');
  }

  async getNvram(id: string, host?: string): Promise<{ bytes: Buffer; sha: string }> {
    const r = await this.serversClient.driver(host ?? this.getHostForServer(id)).getNvram(id);
    const sha = sha256(r.bytes);
    if (r.sha256Header !== null) this.assertEqual(r.sha256Header, sha, 'X-NVRAM-SHA256 header must match the body');
    return { bytes: r.bytes, sha };
  }

  /** Reads a host firmware file (a template) as the runner sees it (`[uefi] firmware_root`). */
  readHostFile(p: string): Buffer {
    return fs.readFileSync(path.join(this.conf.uefi.firmware_root || '/', p));
  }

  /** Firmware entry the host is expected to pick: first matching entry of GET /v1/host/firmware. */
  async expectedFirmware(host: string, want: { arch: string; machine: string; secure: boolean; stateless?: boolean }): Promise<FirmwareEntryView> {
    const fw = await this.serversClient.driver(host).firmware();
    const machines = machineCandidates(want.machine);
    const e = fw.entries.find(
      (x) =>
        x.arch === want.arch &&
        x.secure_boot === want.secure &&
        x.stateless === (want.stateless ?? false) &&
        (want.stateless ? true : x.nvram_template !== null) &&
        machines.some((m) => x.machines.length === 0 || x.machines.some((g) => globMatch(g, m))),
    );
    this.assertIsNotNone(e, `no firmware entry on ${host} for ${JSON.stringify(want)}; entries: ${JSON.stringify(fw.entries)}`);
    return e;
  }

  /**
   * Makes the NVRAM differ from its template: stop, write a marker into the store's last
   * 64 bytes (outside the variable region of an edk2 raw store), PUT it back, start.
   * Returns the new hash.
   */
  async writeNvramMarker(id: string): Promise<string> {
    const wasActive = this.serversClient.showServer(id).status === 'ACTIVE';
    if (wasActive) {
      this.serversClient.stopServer(id);
      await waitForServerStatus(this.serversClient, id, 'SHUTOFF');
    }
    const { bytes, sha: before } = await this.getNvram(id);
    const marked = Buffer.from(bytes);
    const marker = Buffer.from(`tempest-compat marker ${id} ${Date.now()}`.padEnd(64, '\0').slice(0, 64), 'latin1');
    marker.copy(marked, marked.length - 64);
    const put = await this.driverFor(id).putNvram(id, marked);
    this.assertEqual(put.nvram.sha256, sha256(marked), 'PUT nvram reports the written hash');
    this.assertEqual(put.nvram.size, bytes.length, 'PUT nvram keeps the size');
    const after = (await this.getNvram(id)).sha;
    this.assertNotEqual(after, before, 'marker changed the NVRAM');
    if (wasActive) {
      this.serversClient.startServer(id);
      await waitForServerStatus(this.serversClient, id, 'ACTIVE');
    }
    return after;
  }
}

/** Admin tests (tempest `BaseV2ComputeAdminTest`): moves need two compute hosts. */
export abstract class BaseUEFIAdminTest extends BaseUEFIComputeTest {
  override async skipChecks(): Promise<void> {
    await super.skipChecks();
    if (this.conf.compute.min_compute_nodes < 2) {
      throw new SkipException(`Less than 2 compute nodes ([compute] min_compute_nodes = ${this.conf.compute.min_compute_nodes}), skipping migration test.`);
    }
  }

  override async setupClients(): Promise<void> {
    await super.setupClients();
    if (this.hosts.length < this.conf.compute.min_compute_nodes) {
      throw new Error(`[compute] min_compute_nodes is ${this.conf.compute.min_compute_nodes} but [uefi] hosts names ${this.hosts.length}`);
    }
  }
}

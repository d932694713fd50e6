/**
 * @module tempest-compat/lib/clients/driver
 * REST client for one sidecar (one compute host): the Nova virt-driver calls
 * (`POST /v1/instances/{uuid}/{method}`), instance and host views, and admin NVRAM access.
 * Like tempest's service clients it checks the status code and raises
 * `RestClientException` (with request id and error body) on anything unexpected; it holds no
 * test logic.
 */
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { randomUUID } from 'node:crypto';
import { RestClientException } from '../exceptions';

export interface FirmwareView {
  loader: string;
  nvram_template: string | null;
  secure: boolean;
  requires_smm: boolean;
  stateless: boolean;
  source: string;
  [k: string]: unknown;
}
export interface NvramView {
  path: string;
  size: number;
  sha256: string;
}
export interface InstanceView {
  instance_uuid: string;
  instance_name: string;
  power_state: number;
  domain_xml: string | null;
  firmware: FirmwareView | null;
  nvram: NvramView | null;
  system_metadata: Record<string, string>;
  [k: string]: unknown;
}
export interface FirmwareEntryView {
  source: string;
  arch: string;
  machines: string[];
  executable: string;
  nvram_template: string | null;
  secure_boot: boolean;
  requires_smm: boolean;
  enrolled_keys: boolean;
  stateless: boolean;
}
export interface HostFirmwareView {
  entries: FirmwareEntryView[];
  problems: unknown[];
}
export interface CapabilitiesView {
  host: string;
  capabilities: Record<string, unknown>;
  traits: string[];
  architectures: Record<string, { uefi?: boolean; secure_boot?: boolean; stateless?: boolean; machines?: string[] }>;
}

/** Nova power_state codes (nova/compute/power_state.py). */
export const POWER_STATE = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, CRASHED: 6, SUSPENDED: 7 } as const;

export interface CallRecord {
  host: string;
  method: string;
  path: string;
  status: number;
  requestId: string | null;
}

export class DriverClient {
  private readonly http: AxiosInstance;
  /** Every request made, for tests that assert Nova's call order and for failure reports. */
  readonly calls: CallRecord[] = [];

  constructor(
    readonly host: string,
    readonly baseUrl: string,
    private readonly token: string,
    timeoutMs = 120_000,
  ) {
    this.http = axios.create({
      baseURL: baseUrl,
      timeout: timeoutMs,
      validateStatus: () => true,
      maxContentLength: 256 * 1024 * 1024,
      maxBodyLength: 256 * 1024 * 1024,
    });
  }

  private async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts: { body?: unknown; raw?: boolean; expect?: number[]; contentType?: string; auth?: boolean } = {},
  ): Promise<AxiosResponse> {
    const headers: Record<string, string> = { 'X-OpenStack-Request-ID': `req-${randomUUID()}` };
    if (opts.auth !== false && this.token) headers.Authorization = `Bearer ${this.token}`;
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    let resp: AxiosResponse;
    try {
      resp = await this.http.request({
        method,
        url: path,
        data: opts.body,
        headers,
        responseType: opts.raw ? 'arraybuffer' : 'text',
        transformResponse: (d: unknown) => d,
      });
    } catch (e) {
      throw new Error(`${method} ${this.baseUrl}${path} (${this.host}) failed: ${(e as Error).message}`, { cause: e });
    }
    const requestId = (resp.headers['x-openstack-request-id'] as string | undefined) ?? null;
    this.calls.push({ host: this.host, method, path, status: resp.status, requestId });
    const expect = opts.expect ?? [200];
    if (!expect.includes(resp.status)) {
      let body: unknown = resp.data;
      const text = Buffer.isBuffer(body) || body instanceof ArrayBuffer ? Buffer.from(body as ArrayBuffer).toString('utf8') : String(body ?? '');
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      throw new RestClientException({ status: resp.status, requestId, method, url: `${this.baseUrl}${path}`, body });
    }
    return resp;
  }

  private async json<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, expect?: number[]): Promise<T> {
    const r = await this.request(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      contentType: body === undefined ? undefined : 'application/json',
      expect,
    });
    const text = String(r.data ?? '');
    if (text === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`${method} ${path}: response is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** `POST /v1/instances/{uuid}/{method}` with Nova kwargs. */
  call<T = InstanceView>(uuid: string, method: string, kwargs: Record<string, unknown>): Promise<T> {
    return this.json<T>('POST', `/v1/instances/${encodeURIComponent(uuid)}/${method}`, kwargs);
  }

  showInstance(uuid: string): Promise<InstanceView> {
    return this.json<InstanceView>('GET', `/v1/instances/${encodeURIComponent(uuid)}`);
  }
  listInstances(): Promise<{ instances: Array<{ uuid: string; name: string; power_state: number }> }> {
    return this.json('GET', '/v1/instances');
  }
  capabilities(): Promise<CapabilitiesView> {
    return this.json('GET', '/v1/host/capabilities');
  }
  firmware(): Promise<HostFirmwareView> {
    return this.json('GET', '/v1/host/firmware');
  }
  async healthz(): Promise<number> {
    return (await this.request('GET', '/healthz', { auth: false, expect: [200, 503] })).status;
  }
  /** Raw request for negative tests (no status check). */
  async rawStatus(method: 'GET' | 'POST', path: string, auth: boolean): Promise<{ status: number; body: string; requestId: string | null }> {
    const r = await this.request(method, path, { auth, expect: Array.from({ length: 600 }, (_, i) => i) });
    return { status: r.status, body: String(r.data ?? ''), requestId: (r.headers['x-openstack-request-id'] as string | undefined) ?? null };
  }

  async getNvram(uuid: string): Promise<{ bytes: Buffer; sha256Header: string | null; requestId: string | null }> {
    const r = await this.request('GET', `/v1/instances/${encodeURIComponent(uuid)}/nvram`, { raw: true });
    return {
      bytes: Buffer.from(r.data as ArrayBuffer),
      sha256Header: (r.headers['x-nvram-sha256'] as string | undefined) ?? null,
      requestId: (r.headers['x-openstack-request-id'] as string | undefined) ?? null,
    };
  }

  async putNvram(uuid: string, bytes: Buffer): Promise<{ nvram: NvramView }> {
    const r = await this.request('PUT', `/v1/instances/${encodeURIComponent(uuid)}/nvram`, { body: bytes, contentType: 'application/octet-stream' });
    return JSON.parse(String(Buffer.isBuffer(r.data) ? r.data.toString('utf8') : r.data)) as { nvram: NvramView };
  }
}

/**
 * @module peer/client
 * Signed HTTP calls to the sidecar of another compute host (axios). Peers are found from
 * `[peer] hosts` (name or IP → URL) first, then `[peer] url_template` with `{host}`; Nova
 * passes `dest` as an IP to migrate_disk_and_power_off and as a host name to
 * live_migration, so both kinds of key work. Failures become a `MigrationError` that says
 * which peer and why (unreachable, timeout, refused, an untrusted certificate, the peer's own
 * typed error). Each call is timed by peer and outcome, and the store bytes a successful
 * call carried are counted.
 *
 * https peer URLs are verified, always: against `[peer] ca_file` when set, else the system's
 * trusted CAs, host name included. There is no switch to turn verification off; a private
 * CA goes in `ca_file`.
 */
import axios, { type AxiosError } from 'axios';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { Config } from '../config';
import { MigrationError, NovaError } from '../errors';
import type { Metrics } from '../metrics';
import { signRequest } from './signing';
import { storeBytesIn } from './transfer';

/** A signed call to another host's sidecar: what the migration flows use (tests give an in-memory one). */
export interface Peer {
  call<T>(host: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown): Promise<T>;
  /** True when `host` names this sidecar. */
  isSelf(host: string, ownUrl?: string): boolean;
  /** The same peer for calls made while serving request `requestId`. */
  forRequest(requestId: string): Peer;
}

/** TLS error codes of Node/OpenSSL that mean "this peer's certificate is not to be trusted". */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL/;

/**
 * The HTTPS agent for `[peer] ca_file` (undefined: the system's CAs). Throws with the option
 * named when the file cannot be read or holds no certificate.
 */
export function peerHttpsAgent(config: Config): HttpsAgent | undefined {
  const file = config.peer.ca_file;
  if (!file) return undefined;
  let ca: string;
  try {
    ca = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read [peer] ca_file ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`[peer] ca_file ${file} holds no PEM certificate`);
  return new HttpsAgent({ ca, rejectUnauthorized: true, keepAlive: true });
}

export class PeerClient implements Peer {
  private agent: HttpsAgent | undefined;
  /**
   * `requestId`: sent as `X-OpenStack-Request-ID`, so the peer's log lines carry the caller's
   * id. `agent`: shared with the client this one was made from; read from `[peer] ca_file`
   * otherwise (throws when it cannot be read).
   */
  constructor(
    private config: Config,
    readonly requestId?: string,
    private readonly metrics?: Metrics,
    agent?: HttpsAgent,
  ) {
    this.agent = agent ?? peerHttpsAgent(config);
  }

  /** Use a reloaded configuration ([peer] hosts, secret, timeout, CA) for calls from now on. */
  reconfigure(config: Config, agent: HttpsAgent | undefined = peerHttpsAgent(config)): void {
    this.config = config;
    this.agent = agent;
  }

  /** The same client for calls made while serving request `requestId`. */
  forRequest(requestId: string): PeerClient {
    return new PeerClient(this.config, requestId, this.metrics, this.agent);
  }

  /** Base URL of the sidecar serving `host`, or a MigrationError naming the options to set. */
  urlFor(host: string): string {
    const mapped = this.config.peer.hosts[host];
    if (mapped) return mapped.replace(/\/+$/, '');
    if (this.config.peer.url_template) return this.config.peer.url_template.replace('{host}', host).replace(/\/+$/, '');
    throw new MigrationError(`no peer sidecar known for host '${host}': set [peer] hosts or [peer] url_template`, { code: 400 });
  }

  /** True when `host` names this sidecar ([DEFAULT] host, or a [peer] hosts key mapped to our own URL). */
  isSelf(host: string, ownUrl?: string): boolean {
    if (host === this.config.DEFAULT.host) return true;
    const mapped = this.config.peer.hosts[host];
    const self = this.config.peer.hosts[this.config.DEFAULT.host];
    return !!mapped && ((!!self && mapped === self) || (!!ownUrl && mapped.replace(/\/+$/, '') === ownUrl.replace(/\/+$/, '')));
  }

  async call<T>(host: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown): Promise<T> {
    const base = this.urlFor(host);
    const raw = Buffer.from(body === undefined ? '' : JSON.stringify(body));
    const headers: Record<string, string> = { ...signRequest(this.config.peer.shared_secret, method, pathAndQuery, raw) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.requestId) headers['x-openstack-request-id'] = this.requestId;
    const started = performance.now();
    const done = (outcome: string) => this.metrics?.peerDuration.observe({ peer: host, method, outcome }, (performance.now() - started) / 1000);
    try {
      const r = await axios.request({
        url: base + pathAndQuery,
        method,
        data: body === undefined ? undefined : raw,
        headers,
        timeout: this.config.peer.timeout * 1000,
        maxBodyLength: 512 * 1024 * 1024,
        maxContentLength: 512 * 1024 * 1024,
        transformRequest: [(d: unknown) => d],
        proxy: false,
        ...(this.agent ? { httpsAgent: this.agent } : {}),
      });
      done('success');
      this.metrics?.nvramBytesSent.inc(storeBytesIn(body));
      return r.data as T;
    } catch (e) {
      const ax = e as AxiosError<{ error?: { type?: string; code?: number; message?: string } }>;
      const remote = ax.response?.data?.error;
      const fail = (reason: string) => {
        done(reason);
        this.metrics?.peerFailures.inc({ peer: host, reason });
      };
      if (remote?.type) {
        fail(/^[A-Za-z]{1,64}$/.test(remote.type) ? remote.type : 'http');
        // Re-raise the peer's own typed error so the proxy sees the real Nova exception.
        throw new NovaError(remote.type, remote.code ?? ax.response?.status ?? 500, `peer ${host}: ${remote.message ?? ''}`, { cause: e });
      }
      const timedOut = ax.code === 'ECONNABORTED' || ax.code === 'ETIMEDOUT';
      const tls = !ax.response && TLS_CODE.test(ax.code ?? '');
      fail(timedOut ? 'timeout' : tls ? 'tls' : ax.response ? 'http' : 'unreachable');
      const why = timedOut
        ? 'timed out'
        : ax.code === 'ECONNREFUSED'
          ? 'unreachable (connection refused)'
          : tls
            ? `refused: its TLS certificate does not verify (${ax.code}: ${ax.message}); set [peer] ca_file to the CA that signed it`
            : ax.message;
      throw new MigrationError(`peer ${host} (${base}) ${why}`, { code: 502, cause: e });
    }
  }
}

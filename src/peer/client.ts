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
import axios, { type AxiosError, type AxiosResponse } from 'axios';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { Config } from '../config';
import { MigrationError, NovaError } from '../errors';
import type { Metrics } from '../metrics';
import { H_NONCE, signRequest, verifyResponse } from './signing';
import { checkPeerHost, templateUrl } from './hosts';
import { storeBytesIn } from './transfer';

/** A signed call to another host's sidecar: what the migration flows use (tests give an in-memory one). */
export interface Peer {
  call<T>(host: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown): Promise<T>;
  /** `host` checked against the configured peers: InvalidInput naming `field` otherwise, before any connection. */
  checkHost(host: unknown, field?: string): string;
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

  /** `host` checked against the configured peers (InvalidInput naming `field` otherwise); before any connection. */
  checkHost(host: unknown, field = 'dest'): string {
    if (typeof host === 'string' && host === this.config.DEFAULT.host) return host;
    return checkPeerHost(this.config.peer, host, field);
  }

  /** Base URL of the sidecar serving `host`; InvalidInput when `host` is not a configured peer, MigrationError when none is configured. */
  urlFor(host: string): string {
    if (!Object.keys(this.config.peer.hosts).length && !this.config.peer.url_template)
      throw new MigrationError(`no peer sidecar known for host '${host}': set [peer] hosts or [peer] url_template`, { code: 400 });
    checkPeerHost(this.config.peer, host, 'host');
    const mapped = Object.prototype.hasOwnProperty.call(this.config.peer.hosts, host) ? this.config.peer.hosts[host] : undefined;
    if (mapped) return mapped.replace(/\/+$/, '');
    return templateUrl(this.config.peer.url_template, host).replace(/\/+$/, '');
  }

  /** True when `host` names this sidecar ([DEFAULT] host, or a [peer] hosts key mapped to our own URL). */
  isSelf(host: string, ownUrl?: string): boolean {
    if (host === this.config.DEFAULT.host) return true;
    const mapped = this.config.peer.hosts[host];
    const self = this.config.peer.hosts[this.config.DEFAULT.host];
    return !!mapped && ((!!self && mapped === self) || (!!ownUrl && mapped.replace(/\/+$/, '') === ownUrl.replace(/\/+$/, '')));
  }

  /**
   * One signed call; the answer is taken only with a valid signature from the peer for this
   * request (`verifyResponse`): an unsigned or forged success is a MigrationError; an error
   * answer fails the call either way (marked when it was not signed).
   */
  async call<T>(host: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown): Promise<T> {
    const base = this.urlFor(host);
    const secret = this.config.peer.shared_secret;
    const raw = Buffer.from(body === undefined ? '' : JSON.stringify(body));
    const signed = signRequest(secret, method, pathAndQuery, host, raw);
    const headers: Record<string, string> = { ...signed };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.requestId) headers['x-openstack-request-id'] = this.requestId;
    const started = performance.now();
    const done = (outcome: string) => this.metrics?.peerDuration.observe({ peer: host, method, outcome }, (performance.now() - started) / 1000);
    const fail = (reason: string) => {
      done(reason);
      this.metrics?.peerFailures.inc({ peer: host, reason });
    };
    let r: AxiosResponse<ArrayBuffer>;
    try {
      r = await axios.request<ArrayBuffer>({
        url: base + pathAndQuery,
        method,
        data: body === undefined ? undefined : raw,
        headers,
        timeout: this.config.peer.timeout * 1000,
        maxBodyLength: 512 * 1024 * 1024,
        maxContentLength: 512 * 1024 * 1024,
        transformRequest: [(d: unknown) => d],
        responseType: 'arraybuffer',
        decompress: false,
        validateStatus: () => true,
        proxy: false,
        ...(this.agent ? { httpsAgent: this.agent } : {}),
      });
    } catch (e) {
      const ax = e as AxiosError;
      const timedOut = ax.code === 'ECONNABORTED' || ax.code === 'ETIMEDOUT';
      const tls = TLS_CODE.test(ax.code ?? '');
      fail(timedOut ? 'timeout' : tls ? 'tls' : 'unreachable');
      const why = timedOut
        ? 'timed out'
        : ax.code === 'ECONNREFUSED'
          ? 'unreachable (connection refused)'
          : tls
            ? `refused: its TLS certificate does not verify (${ax.code}: ${ax.message}); set [peer] ca_file to the CA that signed it`
            : ax.message;
      throw new MigrationError(`peer ${host} (${base}) ${why}`, { code: 502, cause: e });
    }
    const answer = Buffer.from(r.data ?? new ArrayBuffer(0));
    let authentic = true;
    let why = '';
    try {
      verifyResponse(secret, { nonce: signed[H_NONCE], destination: host }, r.status, r.headers as Record<string, string>, answer);
    } catch (e) {
      authentic = false;
      why = (e as Error).message.replace(/^peer request refused: /, '');
    }
    const parsed = (() => {
      try {
        return answer.length ? (JSON.parse(answer.toString('utf8')) as unknown) : undefined;
      } catch {
        return undefined;
      }
    })();
    if (r.status >= 200 && r.status < 300) {
      if (!authentic) {
        fail('unsigned');
        throw new MigrationError(`peer ${host} (${base}) answered HTTP ${r.status} ${why}: the answer is refused`, { code: 502 });
      }
      done('success');
      this.metrics?.nvramBytesSent.inc(storeBytesIn(body));
      return parsed as T;
    }
    const remote = (parsed as { error?: { type?: string; code?: number; message?: string } } | undefined)?.error;
    const typeOk = typeof remote?.type === 'string' && /^[A-Za-z]{1,64}$/.test(remote.type);
    if (remote && typeOk) {
      fail(remote.type!);
      // Re-raise the peer's own typed error so the proxy sees the real Nova exception. An
      // unsigned one (a peer that could not authenticate us answers so) stays an error: a
      // refusal is all an attacker could forge with it, and the call fails either way.
      throw new NovaError(remote.type!, remote.code ?? r.status, `peer ${host}: ${remote.message ?? ''}${authentic ? '' : ' (unsigned answer)'}`);
    }
    fail('http');
    const said = remote ? `${typeOk ? remote.type : 'error'}: ${String(remote.message ?? '').slice(0, 500)}` : `HTTP ${r.status}`;
    throw new MigrationError(`peer ${host} (${base}) answered HTTP ${r.status} (${said})${authentic ? '' : ` [${why}]`}`, { code: 502 });
  }
}

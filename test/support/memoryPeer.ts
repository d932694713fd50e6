/**
 * An in-memory `Peer` (src/peer/client) for the driver's unit tests: the peer calls the
 * migration flows make go straight to the `ShimDriver` registered for the host name, without
 * HTTP or signatures, but with what the wire does to them:
 * - bodies and answers round-trip through `JSON.stringify`/`JSON.parse` (a Buffer or an
 *   undefined field does not survive, as over HTTP);
 * - a `NovaError` thrown by the peer's driver comes back as the same Nova exception, with the
 *   message prefixed `peer <host>:` (as `PeerClient` re-raises the API's error body), and any
 *   other error as the `InternalError` the API would answer;
 * - an unknown host is the `MigrationError` (400) of `PeerClient.urlFor`, a host marked down the
 *   `MigrationError` (502) of a refused connection.
 * Routes are the ones `api/peerRoutes` serves: PUT `/v1/peer/instances/{uuid}/nvram`
 * (peerStage), GET `…/state[?nvram=1]` (peerState), GET `…/nvram_digest?name=` (peerNvramDigest).
 */
import type { Peer } from '../../src/peer/client';
import type { ShimDriver } from '../../src/driver';
import type { StageRequest } from '../../src/driver/contract';
import { InvalidInput, MigrationError, NovaError } from '../../src/errors';
import { isHostName } from '../../src/peer/hosts';

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface PeerCallLog {
  from: string;
  to: string;
  method: Method;
  path: string;
  requestId?: string;
}

/** The sidecars of one test, by Nova host name, with aliases (an IP for a name, as `[peer] hosts`). */
export class PeerNetwork {
  readonly drivers = new Map<string, ShimDriver>();
  readonly aliases = new Map<string, string>();
  /** Hosts whose sidecar refuses connections. */
  readonly down = new Set<string>();
  readonly calls: PeerCallLog[] = [];

  register(host: string, driver: ShimDriver): void {
    this.drivers.set(host, driver);
  }

  resolve(host: string): string {
    return this.aliases.get(host) ?? host;
  }
}

const wire = <T>(v: unknown): T => (v === undefined ? (undefined as T) : (JSON.parse(JSON.stringify(v)) as T));

export class MemoryPeer implements Peer {
  constructor(
    private readonly net: PeerNetwork,
    /** This sidecar's `[DEFAULT] host`. */
    readonly self: string,
    readonly requestId?: string,
  ) {}

  forRequest(requestId: string): MemoryPeer {
    return new MemoryPeer(this.net, this.self, requestId);
  }

  /** True when `host` names this sidecar, directly or through an alias (as `[peer] hosts`), or by `ownUrl`. */
  isSelf(host: string, ownUrl?: string): boolean {
    return this.net.resolve(host) === this.self || (!!ownUrl && ownUrl === `memory://${this.net.resolve(host)}`);
  }

  /** As `PeerClient.checkHost`: a registered host, an alias, or (as with `[peer] url_template`) a plain host name. */
  checkHost(host: unknown, field = 'dest'): string {
    if (typeof host === 'string' && (this.net.drivers.has(this.net.resolve(host)) || isHostName(host))) return host;
    throw new InvalidInput(field, `${JSON.stringify(host)} is not a configured peer`);
  }

  async call<T>(host: string, method: Method, pathAndQuery: string, body?: unknown): Promise<T> {
    const to = this.net.resolve(host);
    const driver = this.net.drivers.get(to);
    if (!driver) throw new MigrationError(`no peer sidecar known for host '${host}': set [peer] hosts or [peer] url_template`, { code: 400 });
    this.net.calls.push({ from: this.self, to, method, path: pathAndQuery, requestId: this.requestId });
    if (this.net.down.has(to)) throw new MigrationError(`peer ${host} (memory://${to}) unreachable (connection refused)`, { code: 502 });
    const sent = wire<unknown>(body);
    let answer: unknown;
    try {
      answer = await route(this.requestId ? driver.forRequest(this.requestId) : driver, method, pathAndQuery, sent);
    } catch (e) {
      if (e instanceof NovaError) throw new NovaError(e.type, e.code, `peer ${host}: ${e.message}`, { cause: e });
      throw new NovaError('InternalError', 500, `peer ${host}: Unexpected error; see the sidecar log.`, { cause: e });
    }
    return wire<T>(answer);
  }
}

/** The peer routes of `api/peerRoutes`, by method and path. */
function route(driver: ShimDriver, method: Method, pathAndQuery: string, body: unknown): Promise<unknown> {
  const url = new URL(pathAndQuery, 'memory://peer');
  const m = /^\/v1\/peer\/instances\/([^/]+)\/(nvram|state|nvram_digest)$/.exec(url.pathname);
  const uuid = m ? decodeURIComponent(m[1]) : '';
  if (m && method === 'PUT' && m[2] === 'nvram') return driver.peerStage(uuid, body as StageRequest);
  if (m && method === 'GET' && m[2] === 'state') {
    const nvram = url.searchParams.get('nvram') === '1' ? (url.searchParams.get('runs') === '1' ? 'runs' : 'whole') : false;
    return driver.peerState(uuid, nvram);
  }
  if (m && method === 'GET' && m[2] === 'nvram_digest') return driver.peerNvramDigest(uuid, url.searchParams.get('name') ?? '');
  return Promise.reject(new NovaError('NotFound', 404, `no peer route ${method} ${url.pathname}`));
}

/**
 * @module peer/protocol
 * The sidecar-to-sidecar protocol, typed: its paths (shared by the client here and the routes
 * of api/peerRoutes and api/incomingStream), the bodies each call carries, and `PeerApi`, one
 * method per call. The schemas are the OpenAPI document's (`peer` tag): the routes validate
 * what they receive against them, and `PeerApi` checks every answer against them before a
 * flow uses it; an answer that does not fit is a `MigrationError` (502) naming the peer and
 * the field. The signature (peer/signing) says who answered; the schema says the answer is
 * one this side can act on.
 *
 * The schemas check the shape of everything a flow reads (digests, sizes, states, the store's
 * payload, the record's identity and state); the rest of an instance record is the peer's own
 * and taken as sent, as a record read back from this host's state directory is.
 */
import type { FirmwareSelection } from '../firmware/types';
import type { InstanceRecord } from '../state/records';
import type { Schemas } from '../wire';
import { MigrationError } from '../errors';
import { componentValidator } from '../util/openapiDoc';
import type { Peer } from './client';
import type { NvramPayload } from './transfer';

/** Every peer path starts so (the signed part of the API). */
export const PEER_PREFIX = '/v1/peer/';

/** The peer paths, as the OpenAPI document writes them. */
export const PEER_PATHS = {
  ping: '/v1/peer/ping',
  stageNvram: '/v1/peer/instances/{instance_uuid}/nvram',
  instanceState: '/v1/peer/instances/{instance_uuid}/state',
  nvramDigest: '/v1/peer/instances/{instance_uuid}/nvram_digest',
  rollbackLiveMigrationAtDestination: '/v1/peer/instances/{instance_uuid}/rollback_live_migration_at_destination',
  arrive: '/v1/peer/arrive',
} as const;
export type PeerPath = (typeof PEER_PATHS)[keyof typeof PEER_PATHS];

/** The operationId of each peer path's one operation in the OpenAPI document (request schemas are found by it). */
export const PEER_OPERATIONS = {
  ping: 'peer_ping',
  stageNvram: 'peer_stage_nvram',
  instanceState: 'peer_instance_state',
  nvramDigest: 'peer_nvram_digest',
  rollbackLiveMigrationAtDestination: 'peer_rollback_live_migration_at_destination',
  arrive: 'peer_arrive',
} as const satisfies Record<keyof typeof PEER_PATHS, string>;

/** The express route of a peer path (`{instance_uuid}` → `:uuid`). */
export function peerRoute(p: PeerPath): string {
  return p.replace('{instance_uuid}', ':uuid');
}

/** A peer path for one instance, with its query. */
export function peerPath(p: PeerPath, uuid?: string, query?: Record<string, string>): string {
  const path = uuid === undefined ? p : p.replace('{instance_uuid}', encodeURIComponent(uuid));
  const q = query ? new URLSearchParams(query).toString() : '';
  return q ? `${path}?${q}` : path;
}

/** A store sent to the destination of a cold migration (`PeerStageRequest`). */
export interface StageRequest {
  kind: 'cold' | 'live';
  key: string;
  name: string;
  source_host: string;
  firmware: FirmwareSelection | null;
  nvram: NvramPayload;
  record?: InstanceRecord;
}

/** The destination's answer to a stage request (`PeerStageResult`). */
export interface StageResult {
  staged: boolean;
  size: number;
  sha256: string;
}

/** The source's view of an instance, read by the destination's live-migration pre-checks (`PeerInstanceState`). */
export interface PeerInstanceState {
  record: InstanceRecord;
  domain_xml: string | null;
  power_state: number;
  nvram_size: number | null;
  nvram: NvramPayload | null;
}

/** The digest of a destination's store (`PeerNvramDigest`). */
export interface NvramDigest {
  sha256: string | null;
  size: number | null;
}

export type PeerPing = Schemas['PeerPing'];
export type PeerArrival = Schemas['PeerArrival'];
export type PeerArrived = Schemas['PeerArrived'];
export type PeerEmpty = Record<string, never>;

/** The error of an answer that does not fit its schema: where and why, in a line. */
function misfit(host: string, schema: string, errors: { instancePath: string; message?: string; params: unknown }[] | null | undefined): MigrationError {
  const e = errors?.[0];
  const missing = (e?.params as { missingProperty?: unknown } | undefined)?.missingProperty;
  const field = [e?.instancePath.split('/').filter(Boolean).join('.'), typeof missing === 'string' ? missing : ''].filter(Boolean).join('.') || 'body';
  return new MigrationError(`peer ${host} answered a ${schema} that does not fit its schema (${field}: ${e?.message ?? 'invalid'}); the answer is refused`, {
    code: 502,
  });
}

/** `answer` as `T` once it fits the document's schema `schema`; MigrationError (502) otherwise. */
export function checkAnswer<T>(host: string, schema: string, answer: unknown): T {
  const fits = componentValidator(schema);
  if (!fits(answer)) throw misfit(host, schema, fits.errors);
  return answer as T;
}

/**
 * One method per peer call, over a signed transport (`PeerClient`, or the tests' in-memory
 * peer). Each answer is checked against its schema before it is returned.
 */
export class PeerApi {
  constructor(private readonly peer: Pick<Peer, 'call'>) {}

  /** `doctor`: the peer answers, shares the secret, and its clock. */
  async ping(host: string): Promise<PeerPing> {
    return checkAnswer(host, 'PeerPing', await this.peer.call(host, 'GET', peerPath(PEER_PATHS.ping)));
  }

  /** Cold migration, source → destination: the store, staged there until finish_migration. */
  async stageNvram(host: string, uuid: string, body: StageRequest): Promise<StageResult> {
    return checkAnswer(host, 'PeerStageResult', await this.peer.call(host, 'PUT', peerPath(PEER_PATHS.stageNvram, uuid), body));
  }

  /**
   * Live migration, destination → source: the instance's record, definition, power state and
   * (`withNvram`) its store, asked as runs (`runs=1`: a source that predates them ignores the
   * word and sends the whole store, which the caller takes as well).
   */
  async instanceState(host: string, uuid: string, withNvram: boolean): Promise<PeerInstanceState> {
    const path = peerPath(PEER_PATHS.instanceState, uuid, withNvram ? { nvram: '1', runs: '1' } : undefined);
    return checkAnswer(host, 'PeerInstanceState', await this.peer.call(host, 'GET', path));
  }

  /** Live migration, source → destination: the digest of the store the arriving guest `name` uses. */
  async nvramDigest(host: string, uuid: string, name: string): Promise<NvramDigest> {
    return checkAnswer(host, 'PeerNvramDigest', await this.peer.call(host, 'GET', peerPath(PEER_PATHS.nvramDigest, uuid, { name })));
  }

  /** Live migration with a shared instance path, source → destination: undo what pre_live_migration did there. */
  async rollbackLiveMigrationAtDestination(host: string, uuid: string): Promise<PeerEmpty> {
    const body: PeerEmpty = {};
    return checkAnswer(host, 'PeerEmpty', await this.peer.call(host, 'POST', peerPath(PEER_PATHS.rollbackLiveMigrationAtDestination, uuid), body));
  }

  /** Live migration between record-keeping backends, source → destination: the guest arrives there. */
  async arrive(host: string, guest: PeerArrival): Promise<PeerArrived> {
    return checkAnswer(host, 'PeerArrived', await this.peer.call(host, 'POST', peerPath(PEER_PATHS.arrive), guest));
  }
}

const apis = new WeakMap<Pick<Peer, 'call'>, PeerApi>();

/** The typed calls over `peer` (one `PeerApi` per transport). */
export function peerApi(peer: Pick<Peer, 'call'>): PeerApi {
  let api = apis.get(peer);
  if (!api) {
    api = new PeerApi(peer);
    apis.set(peer, api);
  }
  return api;
}

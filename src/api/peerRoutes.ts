/**
 * @module api/peerRoutes
 * Sidecar-to-sidecar endpoints under `/v1/peer/`, authenticated by HMAC signature
 * (`peer/signing`) instead of the operator's bearer token, plus a signed ping (`doctor`).
 * The signed headers are checked before the body is read (api/peerBody), and every answer
 * to an authenticated request is signed for that request (`H_RESPONSE_SIGNATURE`), errors
 * included: the caller acts on digests, states and arrivals only when the signature holds.
 */
import express, { type Request } from 'express';
import type { DriverOf } from './context';
import { H_RESPONSE_SIGNATURE, signResponse, type SignatureVerifier } from '../peer/signing';
import { InvalidInput } from '../errors';
import { validateUuid } from '../nova/ids';
import { parseJsonBody, sendJson, signAnswers } from './json';
import { authenticatedPeerBody, DEFAULT_PEER_BODY_LIMITS, peerState, type PeerBodyLimits } from './peerBody';
import type { LiveStepArgs, StageRequest } from '../driver/contract';
import type { FirmwareSelection } from '../firmware/types';
import { storeBytesIn, type NvramPayload } from '../peer/transfer';
import type { Metrics } from '../metrics';
import type { InstanceRecord } from '../state/records';

/** The signed request's JSON body (parsed once by the signature check). */
export function peerBody(req: Request): unknown {
  return (req as Request & { json?: unknown }).json;
}

function objectField(v: unknown, field: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InvalidInput(field, 'must be an object');
  return v as Record<string, unknown>;
}

/** A nested object of a signed body, taken as the peer's sidecar wrote it. */
function peerObject<T extends object>(v: unknown, field: string): T {
  objectField(v, field);
  return v as T;
}

function stringField(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (typeof v !== 'string' || !v) throw new InvalidInput(field, 'must be a non-empty string');
  return v;
}

/**
 * A stage request from a peer: signed by a sidecar that holds the shared secret, so trusted
 * for content, but checked for shape. The store itself is verified by `decodeNvram` (digest).
 */
function stageRequest(body: unknown): StageRequest {
  const b = objectField(body, 'body');
  if (b.kind !== 'cold' && b.kind !== 'live') throw new InvalidInput('kind', "must be 'cold' or 'live'");
  return {
    kind: b.kind,
    key: stringField(b, 'key'),
    name: stringField(b, 'name'),
    source_host: stringField(b, 'source_host'),
    firmware: b.firmware ? peerObject<FirmwareSelection>(b.firmware, 'firmware') : null,
    nvram: peerObject<NvramPayload>(b.nvram, 'nvram'),
    record: b.record ? peerObject<InstanceRecord>(b.record, 'record') : undefined,
  };
}

export interface PeerRouterOptions {
  verifier: SignatureVerifier;
  /** This host's name ([DEFAULT] host), for the ping answer. */
  host: string;
  /** A state answer that carries the store counts as store bytes sent; peer body bytes read are counted. */
  metrics?: Metrics;
  /** The current `[peer] shared_secret` (answers are signed with it). */
  secret: () => string;
  limits?: PeerBodyLimits;
}

export function peerRouter({ verifier, host, metrics, secret, limits = DEFAULT_PEER_BODY_LIMITS }: PeerRouterOptions): (driverOf: DriverOf) => express.Router {
  const readBody = authenticatedPeerBody(verifier, limits, (n) => metrics?.peerBodyBytesRead.inc(n));
  return (driverOf) => {
    const r = express.Router();
    r.use('/v1/peer', readBody, (req: Request, res, next) => {
      const st = peerState(req)!;
      const key = secret();
      signAnswers(res, (status, bytes) => [H_RESPONSE_SIGNATURE, signResponse(key, st.verified, status, bytes)]);
      (req as Request & { json?: unknown }).json = parseJsonBody(st.body);
      next();
    });
    const uuidOf = (req: Request) => validateUuid(String(req.params.uuid));

    // A signed no-op: `doctor` checks that a peer answers, shares the secret, and its clock.
    r.get('/v1/peer/ping', (_req, res) => {
      sendJson(res, { host, time: Date.now() / 1000 });
    });

    r.put('/v1/peer/instances/:uuid/nvram', async (req, res) => {
      sendJson(res, await driverOf(res).peerStage(uuidOf(req), stageRequest(peerBody(req))));
    });
    r.get('/v1/peer/instances/:uuid/state', async (req, res) => {
      const state = await driverOf(res).peerState(uuidOf(req), req.query.nvram === '1');
      sendJson(res, state);
      metrics?.nvramBytesSent.inc(storeBytesIn(state));
    });
    // The source of a live migration that failed with a shared instance path, where Nova
    // calls no rollback on this (the destination) host.
    r.post('/v1/peer/instances/:uuid/rollback_live_migration_at_destination', async (req, res) => {
      const uuid = uuidOf(req);
      // Only the uuid is known here; the destination's journal holds the rest.
      sendJson(res, await driverOf(res).rollbackLiveMigrationAtDestination(uuid, { instance: { uuid } } as unknown as LiveStepArgs));
    });
    r.get('/v1/peer/instances/:uuid/nvram_digest', async (req, res) => {
      const name = req.query.name;
      if (typeof name !== 'string') throw new InvalidInput('name', 'required once, as a string');
      sendJson(res, await driverOf(res).peerNvramDigest(uuidOf(req), name));
    });
    return r;
  };
}

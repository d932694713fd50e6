/**
 * @module api/peerRoutes
 * Sidecar-to-sidecar endpoints under `/v1/peer/`, authenticated by HMAC signature
 * (`peer/signing`) instead of the operator's bearer token, plus a signed ping (`doctor`). The raw body is read once so the
 * signature covers exactly the bytes that were sent.
 */
import express, { type Request } from 'express';
import type { DriverOf } from './context';
import type { SignatureVerifier } from '../peer/signing';
import { InvalidInput } from '../errors';
import { validateUuid } from '../nova/ids';
import { sendJson } from './json';
import type { LiveStepArgs, StageRequest } from '../driver/contract';
import type { FirmwareSelection } from '../firmware/types';
import { storeBytesIn, type NvramPayload } from '../peer/transfer';
import type { Metrics } from '../metrics';
import type { InstanceRecord } from '../state/records';

const MAX_PEER_BODY = 256 * 1024 * 1024;

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
  /** A state answer that carries the store counts as store bytes sent. */
  metrics?: Metrics;
}

export function peerRouter({ verifier, host, metrics }: PeerRouterOptions): (driverOf: DriverOf) => express.Router {
  return (driverOf) => {
    const r = express.Router();
    r.use('/v1/peer', express.raw({ type: () => true, limit: MAX_PEER_BODY }), (req: Request, _res, next) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      verifier.verify(req.method, req.originalUrl, req.headers, body);
      let parsed: unknown = undefined;
      if (body.length) {
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new InvalidInput('body', 'malformed JSON');
        }
      }
      (req as Request & { json?: unknown }).json = parsed;
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

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
import type { LiveStepArgs } from '../driver/contract';
import { storeBytesIn } from '../peer/transfer';
import { PEER_OPERATIONS, PEER_PATHS, PEER_PREFIX, peerRoute, type PeerEmpty, type PeerPing, type StageRequest } from '../peer/protocol';
import type { Metrics } from '../metrics';
import { RequestValidator } from './requestValidator';

/** The signed request's JSON body (parsed once by the signature check). */
export function peerBody(req: Request): unknown {
  return (req as Request & { json?: unknown }).json;
}

/**
 * A signed body checked against its operation's request schema in the OpenAPI document
 * (`peer` tag): InvalidInput naming the field otherwise. Signed by a sidecar that holds the
 * shared secret, so trusted for content, but checked for shape; a store is verified again by
 * `decodeNvram` (digest).
 */
function peerRequest<T>(validator: RequestValidator, operationId: string, body: unknown): T {
  validator.validate(operationId, body);
  return body as T;
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
  /** The request schemas (one is made when not given). */
  validator?: RequestValidator;
}

export function peerRouter({
  verifier,
  host,
  metrics,
  secret,
  limits = DEFAULT_PEER_BODY_LIMITS,
  validator = new RequestValidator(),
}: PeerRouterOptions): (driverOf: DriverOf) => express.Router {
  const readBody = authenticatedPeerBody(verifier, limits, (n) => metrics?.peerBodyBytesRead.inc(n));
  return (driverOf) => {
    const r = express.Router();
    r.use(PEER_PREFIX.replace(/\/$/, ''), readBody, (req: Request, res, next) => {
      const st = peerState(req)!;
      const key = secret();
      signAnswers(res, (status, bytes) => [H_RESPONSE_SIGNATURE, signResponse(key, st.verified, status, bytes)]);
      (req as Request & { json?: unknown }).json = parseJsonBody(st.body);
      next();
    });
    const uuidOf = (req: Request) => validateUuid(String(req.params.uuid));

    // A signed no-op: `doctor` checks that a peer answers, shares the secret, and its clock.
    r.get(peerRoute(PEER_PATHS.ping), (_req, res) => {
      sendJson(res, { host, time: Date.now() / 1000 } satisfies PeerPing);
    });

    r.put(peerRoute(PEER_PATHS.stageNvram), async (req, res) => {
      const uuid = uuidOf(req);
      sendJson(res, await driverOf(res).peerStage(uuid, peerRequest<StageRequest>(validator, PEER_OPERATIONS.stageNvram, peerBody(req))));
    });
    r.get(peerRoute(PEER_PATHS.instanceState), async (req, res) => {
      const nvram = req.query.nvram === '1' ? (req.query.runs === '1' ? 'runs' : 'whole') : false;
      const state = await driverOf(res).peerState(uuidOf(req), nvram);
      sendJson(res, state);
      metrics?.nvramBytesSent.inc(storeBytesIn(state));
    });
    // The source of a live migration that failed with a shared instance path, where Nova
    // calls no rollback on this (the destination) host.
    r.post(peerRoute(PEER_PATHS.rollbackLiveMigrationAtDestination), async (req, res) => {
      const uuid = uuidOf(req);
      peerRequest<PeerEmpty>(validator, PEER_OPERATIONS.rollbackLiveMigrationAtDestination, peerBody(req) ?? {});
      // Only the uuid is known here; the destination's journal holds the rest.
      sendJson(res, await driverOf(res).rollbackLiveMigrationAtDestination(uuid, { instance: { uuid } } as unknown as LiveStepArgs));
    });
    r.get(peerRoute(PEER_PATHS.nvramDigest), async (req, res) => {
      const name = req.query.name;
      if (typeof name !== 'string') throw new InvalidInput('name', 'required once, as a string');
      sendJson(res, await driverOf(res).peerNvramDigest(uuidOf(req), name));
    });
    return r;
  };
}

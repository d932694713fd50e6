/**
 * @module api/peerRoutes
 * Sidecar-to-sidecar endpoints under `/v1/peer/`, authenticated by HMAC signature
 * (`peer/signing`) instead of the operator's bearer token. The raw body is read once so the
 * signature covers exactly the bytes that were sent.
 */
import express, { type Request } from 'express';
import type { DriverOf } from './app';
import type { SignatureVerifier } from '../peer/signing';
import { InvalidInput } from '../errors';
import { validateUuid } from '../state/records';
import { sendJson } from './json';

const MAX_PEER_BODY = 256 * 1024 * 1024;

export function peerRouter(verifier: SignatureVerifier): (driverOf: DriverOf) => express.Router {
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
    const json = (req: Request) => (req as Request & { json?: unknown }).json as never;

    r.put('/v1/peer/instances/:uuid/nvram', async (req, res) => {
      sendJson(res, await driverOf(res).peerStage(uuidOf(req), json(req)));
    });
    r.get('/v1/peer/instances/:uuid/state', async (req, res) => {
      sendJson(res, await driverOf(res).peerState(uuidOf(req), req.query.nvram === '1'));
    });
    r.post('/v1/peer/instances/:uuid/live_arrive', async (req, res) => {
      sendJson(res, await driverOf(res).peerLiveArrive(uuidOf(req), json(req)));
    });
    r.get('/v1/peer/instances/:uuid/nvram_digest', async (req, res) => {
      sendJson(res, await driverOf(res).peerNvramDigest(uuidOf(req), String(req.query.name ?? '')));
    });
    return r;
  };
}

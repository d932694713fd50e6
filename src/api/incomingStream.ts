/**
 * @module api/incomingStream
 * The receiving end of a live migration between backends that keep domains as records
 * (embedded, nova): `POST /v1/peer/arrive`, signed like every peer call. The embedded backend
 * sends the definition and the flash contents (its stand-in for QEMU's stream); the nova
 * backend sends only the definition, since Nova's libvirt moved the guest and its QEMU writes
 * the store. Mounted only on a sidecar whose backend accepts arrivals (`server.ts`); a libvirt
 * sidecar does not serve it, since there the stream runs between the two QEMUs.
 */
import express, { type Request } from 'express';
import type { Hypervisor, IncomingGuest } from '../hypervisor/types';
import { PEER_OPERATIONS, PEER_PATHS, peerRoute, type PeerArrived } from '../peer/protocol';
import { peerBody } from './peerRoutes';
import { sendJson } from './json';
import { RequestValidator } from './requestValidator';

/** The body checked against the OpenAPI `PeerArrival` schema (InvalidInput naming the field otherwise). */
function incomingGuest(validator: RequestValidator, body: unknown): IncomingGuest {
  validator.validate(PEER_OPERATIONS.arrive, body);
  return body as IncomingGuest;
}

/** Mounted after the peer router, whose middleware has checked the signature and parsed the body. */
export function incomingStreamRouter(hv: Required<Pick<Hypervisor, 'acceptIncoming'>>, validator = new RequestValidator()): () => express.Router {
  return () => {
    const r = express.Router();
    r.post(peerRoute(PEER_PATHS.arrive), async (req: Request, res) => {
      await hv.acceptIncoming(incomingGuest(validator, peerBody(req)));
      sendJson(res, { arrived: true } satisfies PeerArrived);
    });
    return r;
  };
}

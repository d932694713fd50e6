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
import type { NvramPayload } from '../peer/transfer';
import { InvalidInput } from '../errors';
import { peerBody } from './peerRoutes';
import { sendJson } from './json';

export const ARRIVE_PATH = '/v1/peer/arrive';

function incomingGuest(body: unknown): IncomingGuest {
  if (!body || typeof body !== 'object') throw new InvalidInput('body', 'must be an object');
  const { domain_xml, nvram } = body as Record<string, unknown>;
  if (typeof domain_xml !== 'string' || !domain_xml) throw new InvalidInput('domain_xml', 'must be a non-empty string');
  if (nvram !== null && (typeof nvram !== 'object' || Array.isArray(nvram))) throw new InvalidInput('nvram', 'must be an object or null');
  return { domain_xml, nvram: nvram as NvramPayload | null };
}

/** Mounted after the peer router, whose middleware has checked the signature and parsed the body. */
export function incomingStreamRouter(hv: Required<Pick<Hypervisor, 'acceptIncoming'>>): () => express.Router {
  return () => {
    const r = express.Router();
    r.post(ARRIVE_PATH, async (req: Request, res) => {
      await hv.acceptIncoming(incomingGuest(peerBody(req)));
      sendJson(res, { arrived: true });
    });
    return r;
  };
}

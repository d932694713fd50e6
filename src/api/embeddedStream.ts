/**
 * @module api/embeddedStream
 * The receiving end of the embedded backend's stand-in for QEMU's live-migration stream:
 * `POST /v1/peer/embedded/arrive`, signed like every peer call. Mounted only on a sidecar
 * whose backend is the embedded one (`server.ts`); a libvirt sidecar does not serve it,
 * since there the stream runs between the two QEMUs.
 */
import express, { type Request } from 'express';
import type { EmbeddedHypervisor, IncomingGuest } from '../hypervisor/embedded';
import type { NvramPayload } from '../peer/transfer';
import { InvalidInput } from '../errors';
import { peerBody } from './peerRoutes';
import { sendJson } from './json';

export const EMBEDDED_ARRIVE_PATH = '/v1/peer/embedded/arrive';

function incomingGuest(body: unknown): IncomingGuest {
  if (!body || typeof body !== 'object') throw new InvalidInput('body', 'must be an object');
  const { domain_xml, nvram } = body as Record<string, unknown>;
  if (typeof domain_xml !== 'string' || !domain_xml) throw new InvalidInput('domain_xml', 'must be a non-empty string');
  if (nvram !== null && (typeof nvram !== 'object' || Array.isArray(nvram))) throw new InvalidInput('nvram', 'must be an object or null');
  return { domain_xml, nvram: nvram as NvramPayload | null };
}

/** Mounted after the peer router, whose middleware has checked the signature and parsed the body. */
export function embeddedStreamRouter(hv: EmbeddedHypervisor): () => express.Router {
  return () => {
    const r = express.Router();
    r.post(EMBEDDED_ARRIVE_PATH, async (req: Request, res) => {
      await hv.acceptIncoming(incomingGuest(peerBody(req)));
      sendJson(res, { arrived: true });
    });
    return r;
  };
}

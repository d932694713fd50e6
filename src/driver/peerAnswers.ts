/**
 * @module driver/peerAnswers
 * What this host answers a peer sidecar about an instance during a migration: the source's
 * record, domain XML, power state and (when asked) its live store; the digest of the store an
 * arriving guest uses on the destination. The flows that ask are driver/liveMigration and
 * driver/coldMigration.
 */
import type { DriverCore, MigrationDeps } from './core';
import type { NvramDigest, PeerInstanceState } from './contract';
import { encodeNvram, encodeImage, type NvramPayload } from '../peer/transfer';
import { PowerState } from '../nova/powerState';

/** What a peer asks of the store: nothing, the whole store, or its runs (peer/transfer). */
export type StoreAsked = false | 'whole' | 'runs';

/** Peer endpoint: the source's record, XML, power state and (optionally) its live store. */
export async function peerInstanceState(core: DriverCore, uuid: string, nvram: StoreAsked): Promise<PeerInstanceState> {
  const rec = await core.mustRecord(uuid);
  const info = await core.hv.getInfo(rec.name);
  // One read and one digest of the store at most: the pre-checks need its size only (a stat),
  // the copy its bytes, hashed in the same pass (a 64 MiB AAVMF store costs a pass each).
  // The digest is kept for the source's own check after the hand-over (verifyDestination).
  const copy = nvram && rec.nvramPath ? await storeCopy(core, rec.nvramPath, nvram) : null;
  // A pre-check (no store asked): the copy is asked for next, and the source's check after the
  // hand-over needs the digest again. Hashed now in the background, both only read the file.
  if (!nvram && rec.nvramPath) void core.deps.nvram.warmDigest(rec.nvramPath);
  return {
    record: rec,
    domain_xml: await core.hv.getXml(rec.name),
    power_state: info?.state ?? PowerState.NOSTATE,
    nvram_size: copy ? copy.size : rec.nvramPath ? await core.deps.nvram.sizeOf(rec.nvramPath) : null,
    nvram: copy,
  };
}

/** The store for the wire: its runs (read piece by piece, never whole), or all its bytes. */
async function storeCopy(core: DriverCore, path: string, how: 'whole' | 'runs'): Promise<NvramPayload | null> {
  if (how === 'runs') {
    const read = await core.deps.nvram.readImage(path);
    return read ? encodeImage(read.image, read.sha256) : null;
  }
  const store = await core.deps.nvram.readHashed(path);
  return store ? encodeNvram(store.data, store.sha256) : null;
}

/** Destination peer endpoint: digest of the store the arriving guest uses. */
export async function peerNvramDigest(core: DriverCore, md: MigrationDeps, uuid: string, name: string): Promise<NvramDigest> {
  const j = await md.journals.get(uuid, 'dest');
  const p = j?.staged_path ?? core.deps.nvram.pathFor(name);
  const info = await core.deps.nvram.cachedInfo(p);
  return { sha256: info?.sha256 ?? null, size: info?.size ?? null };
}

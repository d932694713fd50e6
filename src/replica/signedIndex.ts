/**
 * @module replica/signedIndex
 * The signed index of an instance's generations (`<prefix><uuid>/index`): pure, bytes in and
 * out. It records the highest generation ever completely written (`generation`, a high-water
 * mark that only rises) and, when an operator chose it, the older generation the next restore
 * must use (`pin`). It is authenticated with HMAC-SHA256 under a key derived from the replica
 * key (`key_id` names which), so someone who can write to the object store but holds no
 * replica key cannot forge or edit it: deleting the newest generation leaves an index that
 * names it (a restore refuses, naming it), and deleting the index too leaves generations
 * without one (refused as well).
 *
 * What it cannot do alone: an attacker who kept an older index object and can write to the
 * store may put it back together with deleting newer generations. Object versioning or
 * retention locks in the store (S3 Object Lock, Swift versioned containers) close that; see
 * docs/security.md.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from './keys';
import { ReplicaCorrupt, ReplicaKeyError } from './errors';

export interface ReplicaIndex {
  v: 1;
  instance_uuid: string;
  /** Highest generation completely written (object put and, where verified, read back). */
  generation: number;
  /** An older generation an operator chose for the next restore, and who chose it when. */
  pin?: { generation: number; time: string; by: string };
  time: string;
}

interface Sealed {
  index: ReplicaIndex;
  key_id: string;
  mac: string;
}

function macKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update('nova-uefi-shim replica index v1').digest();
}

function mac(key: Buffer, index: ReplicaIndex): string {
  return createHmac('sha256', macKey(key)).update(JSON.stringify(index)).digest('hex');
}

export function sealIndex(index: ReplicaIndex, keys: Keyring): Buffer {
  const sealed: Sealed = { index, key_id: keys.current.id, mac: mac(keys.current.key, index) };
  return Buffer.from(JSON.stringify(sealed), 'utf8');
}

/** The index of `uuid` from its object `objectKey`, verified; ReplicaCorrupt when forged or malformed. */
export function openIndex(obj: Buffer, keys: Keyring, objectKey: string, uuid: string): ReplicaIndex {
  let sealed: Sealed;
  try {
    sealed = JSON.parse(obj.toString('utf8')) as Sealed;
  } catch {
    throw new ReplicaCorrupt(objectKey, 'the signed index is not JSON');
  }
  const i = sealed?.index;
  if (
    !i ||
    i.v !== 1 ||
    typeof sealed.key_id !== 'string' ||
    typeof sealed.mac !== 'string' ||
    !Number.isSafeInteger(i.generation) ||
    i.generation < 0 ||
    (i.pin !== undefined && (!Number.isSafeInteger(i.pin.generation) || i.pin.generation <= 0))
  )
    throw new ReplicaCorrupt(objectKey, 'the signed index is malformed');
  const key = keys.byId.get(sealed.key_id);
  if (!key) throw new ReplicaKeyError(objectKey, sealed.key_id, [...keys.byId.keys()]);
  const want = Buffer.from(mac(key.key, i), 'hex');
  const got = Buffer.from(sealed.mac, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new ReplicaCorrupt(objectKey, 'the signed index does not verify (forged or edited)');
  if (i.instance_uuid !== uuid) throw new ReplicaCorrupt(objectKey, `the signed index names instance ${i.instance_uuid}`);
  return i;
}

/**
 * @module driver/services/peerSide
 * What a peer sidecar calls here (`/v1/peer/...`, signed): the destination's staging of a
 * cold-migrated store, the source's instance state, the destination's store digest.
 * Implemented by driver/coldMigration and driver/liveMigration.
 */
import type { NvramDigest, PeerInstanceState, StageRequest, StageResult } from '../contract';
import type { StoreAsked } from '../peerAnswers';

export interface PeerSide {
  /** Destination of a cold migration: verify the received store and stage it (not live). Idempotent per migration. */
  peerStage(uuid: string, body: StageRequest): Promise<StageResult>;
  /** Source: its record, definition, power state and, when asked, its store (whole, or as runs). */
  peerState(uuid: string, nvram: StoreAsked): Promise<PeerInstanceState>;
  /** Destination: the digest of the store the arriving guest uses. */
  peerNvramDigest(uuid: string, name: string): Promise<NvramDigest>;
}

/**
 * @module driver/services/secureBootAdmin
 * Secure Boot across every instance of this host (`/v1/host/secure-boot...`): the inventory
 * and fleet rotations. Implemented by driver/secureBootFleet.
 */
import type { RotationRequest, SecureBootInventory, SecureBootRotation } from '../contract';

export interface SecureBootAdmin {
  /** Every instance's Secure Boot state, keys with expiry, key set and queued changes, plus a host summary. */
  secureBootInventory(): Promise<SecureBootInventory>;
  /**
   * Start a fleet rotation (or answer the one with the same `rotation_id`): shut-off instances
   * changed at once, running ones queued; setup-mode and Secure-Boot-off stores skipped unless
   * asked; idempotent per instance. `InvalidInput` for an unknown key set or an empty change.
   */
  startSecureBootRotation(req: RotationRequest): Promise<SecureBootRotation>;
  /** A rotation's progress and per-instance outcomes; `NotFound` when unknown. */
  getSecureBootRotation(id: string): Promise<SecureBootRotation>;
  listSecureBootRotations(): Promise<{ rotations: SecureBootRotation[] }>;
}

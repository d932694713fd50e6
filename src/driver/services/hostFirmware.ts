/**
 * @module driver/services/hostFirmware
 * The host's firmware as discovered now (`GET /v1/host/firmware`). Implemented by firmware/.
 */
import type { FirmwareInventoryView } from '../contract';

export interface HostFirmware {
  /** The firmware map and descriptors as discovered now (re-read on every call). */
  firmwareView(): FirmwareInventoryView;
}

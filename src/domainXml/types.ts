/**
 * @module domainXml/types
 * Inputs and outputs of the domain XML layer, in libvirt's own words. The layer is pure:
 * it never reads config or files; everything arrives in a `DomainSpec`.
 */
import type { FirmwareSelection } from '../firmware/types';

export interface DomainSpec {
  /** libvirt domain name (instance-%08x). */
  name: string;
  /** Nova instance uuid; becomes <uuid>. */
  uuid: string;
  /** <domain type=...>: 'kvm' or 'qemu' (TCG). */
  virtType: 'kvm' | 'qemu';
  arch: string;
  /** Machine type for <type machine=...> (alias or concrete). */
  machine: string;
  vcpus: number;
  memoryMb: number;
  /** null: BIOS guest (no loader, no nvram, no attributes on <os>). */
  firmware: FirmwareSelection | null;
  /** Absolute NVRAM path; null for BIOS and stateless firmware. */
  nvramPath: string | null;
  /** Optional serial console on a unix socket (bind mode), for tests and debugging. */
  serialSocket?: string;
  /** Nova's own guest XML: patched in place, everything else preserved. */
  baseXml?: string;
}

/** What the XML says about firmware, read back from a domain. */
export interface DomainFirmwareView {
  name: string;
  uuid?: string;
  type?: string;
  arch?: string;
  machine?: string;
  /** <os firmware=...> if present (we never emit it). */
  osFirmware?: string;
  loader?: { path: string; readonly?: string; type?: string; secure?: string; stateless?: string };
  nvram?: { path?: string; template?: string };
  smm: boolean;
  /** Attributes present on <os> itself. */
  osAttributes: Record<string, string>;
}

/**
 * @module driver/services
 * Everything the API serves, as interfaces: Nova's calls (`ComputeDriver`, driver/contract) and,
 * apart from them, NVRAM administration, Secure Boot across the host, replicas, the host's
 * firmware and the peer side. The API depends on these, never on the class that implements
 * them (a dependency rule checks it).
 */
import type { ComputeDriver } from '../contract';
import type { HostFirmware } from './hostFirmware';
import type { NvramAdmin } from './nvramAdmin';
import type { PeerSide } from './peerSide';
import type { ReplicaAdmin } from './replicaAdmin';
import type { SecureBootAdmin } from './secureBootAdmin';

export type { ComputeDriver, HostFirmware, NvramAdmin, PeerSide, ReplicaAdmin, SecureBootAdmin };

/** The driver one API request calls. */
export type ServedDriver = ComputeDriver & NvramAdmin & SecureBootAdmin & ReplicaAdmin & HostFirmware & PeerSide;

/** The driver the API is given: a `ServedDriver` for each request, whose log lines and peer calls carry its id. */
export interface RequestDrivers {
  forRequest(requestId: string): ServedDriver;
}

/** The driver the API is given: served as it is for calls of no request's, and per request. */
export type ApiDriver = ServedDriver & RequestDrivers;

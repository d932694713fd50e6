/**
 * @module hypervisor/factory
 * The backend `[hypervisor] backend` names, made from one table (as `replica/index`'s
 * `replicaStoreFor` makes the replica store): each entry builds its backend from the
 * configuration and the few parts start-up hands over. Callers never ask which backend they
 * got; a new backend is one more entry here and nowhere else.
 *
 * Deliberately not here: `init()` (start-up awaits it) and anything about HTTP or peers
 * beyond the `IncomingStream` a backend that keeps domains as records sends guests through.
 */
import type { Config } from '../config';
import type { NvramStore } from '../nvram/store';
import type { FaultPoints } from '../util/faults';
import { EmbeddedHypervisor } from './embedded';
import { LibvirtHypervisor } from './libvirt';
import { NovaOwnedHypervisor } from './novaOwned';
import { virshRunner } from './virsh';
import type { Hypervisor, IncomingStream } from './types';

/** What a backend may need besides the configuration. */
export interface HypervisorParts {
  nvram: NvramStore;
  /** How a live-migrated guest reaches the destination sidecar (backends that keep domains as records). */
  stream: IncomingStream;
  faults: FaultPoints;
}

type Backend = Config['hypervisor']['backend'];

const BACKENDS: { readonly [B in Backend]: (config: Config, parts: HypervisorParts) => Hypervisor } = {
  embedded: (config, p) => new EmbeddedHypervisor(config.hypervisor.state_dir, p.nvram, p.stream, p.faults),
  libvirt: (config) => new LibvirtHypervisor({ uri: config.libvirt.connection_uri, virshPath: config.libvirt.virsh_path }),
  nova: (config, p) =>
    new NovaOwnedHypervisor({
      stateDir: config.hypervisor.state_dir,
      nvram: p.nvram,
      stream: p.stream,
      // `nova_power_state = libvirt`: a read-only query of the domain's state (see the option's help).
      probe: config.hypervisor.nova_power_state === 'libvirt' ? virshRunner(config.libvirt.connection_uri, config.libvirt.virsh_path) : undefined,
    }),
};

/** The backend `config` names, not yet initialised. */
export function hypervisorFor(config: Config, parts: HypervisorParts): Hypervisor {
  return BACKENDS[config.hypervisor.backend](config, parts);
}

/**
 * @module peer/hosts
 * Which names are peers, and which are this sidecar's own. A migration's `dest` (and a
 * live-migration source named by the destination) must be a peer the configuration defines
 * before anything connects anywhere: a key of `[peer] hosts`, or, with `[peer] url_template`,
 * a plain host name or IP address (RFC 1123 labels, a dotted IPv4 address, or an IPv6
 * address) that the template turns into a URL. Anything else (a port, a path, a query, user
 * information, white space) is `InvalidInput` naming the field: `127.0.0.1:9999/x?` is not a
 * host name, and would otherwise be spliced into the template.
 *
 * The names this sidecar answers to as the destination of a signed peer request are its
 * `[DEFAULT] host` and every `[peer] hosts` key mapped to the same URL as that name (an IP
 * alias): a request signed for another name is refused (peer/signing).
 */
import { isIP } from 'node:net';
import type { Config } from '../config';
import { InvalidInput } from '../errors';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS host name (RFC 1123, at most 253 characters) or an IPv4/IPv6 address literal. */
export function isHostName(s: string): boolean {
  if (isIP(s)) return true;
  if (!s || s.length > 253) return false;
  return s.split('.').every((l) => LABEL.test(l));
}

/** Throws InvalidInput (`field`) unless `host` names a peer the configuration defines (see the module header). */
export function checkPeerHost(peer: Pick<Config['peer'], 'hosts' | 'url_template'>, host: unknown, field: string): string {
  if (typeof host !== 'string' || !host) throw new InvalidInput(field, 'required: the host name of a peer');
  if (Object.prototype.hasOwnProperty.call(peer.hosts, host)) return host;
  if (peer.url_template && isHostName(host)) return host;
  const shown = JSON.stringify(host.slice(0, 80));
  throw new InvalidInput(
    field,
    peer.url_template
      ? `${shown} is neither a [peer] hosts name nor a plain host name or IP address for [peer] url_template`
      : `${shown} is not a configured peer ([peer] hosts names: ${Object.keys(peer.hosts).join(', ') || 'none'})`,
  );
}

/** The URL of the sidecar of `host` from the template; an IPv6 literal is bracketed. */
export function templateUrl(template: string, host: string): string {
  return template.replace('{host}', isIP(host) === 6 ? `[${host}]` : host);
}

/** The names this sidecar answers to as a peer request's destination. */
export function ownPeerNames(config: Pick<Config, 'DEFAULT' | 'peer'>): string[] {
  const self = config.DEFAULT.host;
  const norm = (u: string) => u.replace(/\/+$/, '');
  const mine = config.peer.hosts[self];
  const names = [self];
  if (mine) for (const [k, u] of Object.entries(config.peer.hosts)) if (k !== self && norm(u) === norm(mine)) names.push(k);
  return names;
}

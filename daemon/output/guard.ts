import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ReasonCode } from '../reasons.ts';

// Who may load the output page, as plain functions: the names and origins of this server (used
// by daemon/http/guarded-site.ts, where the Host and Origin rules are applied, and by OSCQuery),
// and the page's token. The token (kept in the home) means another local user or a web page
// guessing the port gets nothing.

/** 128 bits, base64url (22 characters). */
export function newToken(): string {
  return randomBytes(16).toString('base64url');
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time in the candidate's content and length (both sides are hashed first). */
export function tokenMatches(expected: string, candidate: string | null | undefined): boolean {
  if (typeof candidate !== 'string') return false;
  return timingSafeEqual(digest(expected), digest(candidate));
}

const hostPort = (address: string, port: number) =>
  `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;

function interfaceAddresses(family: 4 | 6): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if ((a.family === 'IPv4' ? 4 : 6) !== family) continue;
      // A link-local address needs a zone ("fe80::1%eth0"), which no browser puts in Host.
      if (family === 6 && a.address.toLowerCase().startsWith('fe80:')) continue;
      out.push(a.address);
    }
  }
  return out;
}

/**
 * The `Host` values this server answers to, lower-case. Loopback names always; with a LAN bind
 * also that address, or every interface address for a wildcard bind.
 */
export function allowedHosts(bind: string, port: number): Set<string> {
  const names = ['127.0.0.1', 'localhost', '::1'];
  if (bind === '0.0.0.0') names.push(...interfaceAddresses(4));
  else if (bind === '::') names.push(...interfaceAddresses(4), ...interfaceAddresses(6));
  else names.push(bind);
  return new Set(names.map((n) => hostPort(n, port).toLowerCase()));
}

/** `http://<host>` for each allowed host: the origins of pages this server served. */
export function allowedOrigins(hosts: ReadonlySet<string>): Set<string> {
  return new Set([...hosts].map((h) => `http://${h}`));
}

/** The browser-facing address of the page: loopback for loopback and wildcard binds. */
export function pageUrl(bind: string, port: number, token: string): string {
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '::1' : bind;
  return `http://${hostPort(host, port)}/?token=${token}`;
}

export type Check =
  | { ok: true }
  | { ok: false; status: number; reason: ReasonCode<'output'>; message: string };

const OK: Check = { ok: true };

export function checkToken(token: string, url: URL): Check {
  if (tokenMatches(token, url.searchParams.get('token'))) return OK;
  return {
    ok: false,
    status: 403,
    reason: 'output-bad-token',
    message: url.searchParams.has('token')
      ? 'output page request with a wrong token'
      : 'output page request without a token',
  };
}

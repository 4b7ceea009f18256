import { NODE_ATTRIBUTES, type NodeAttribute } from './attributes.ts';
import type { Namespace } from './namespace.ts';

// One HTTP GET of the OSCQuery server answered from the namespace, per the spec: the URL path is
// the OSC path, the query (if any) names one attribute, the fragment is ignored. Socket-free.

export type HostInfo = Record<string, unknown>;

export type Reply =
  | { status: 200; body: string | Buffer }
  | { status: 204 }
  | {
      status: 400 | 404;
      reason: 'oscquery-bad-request' | 'oscquery-bad-attribute' | 'oscquery-not-found';
      message: string;
    };

const ATTRIBUTES = new Set<string>(NODE_ATTRIBUTES);

/** `/a/b/`, `/a/b` and `/a/%62` are one path; the root is `/`. */
function oscPath(raw: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (!path.startsWith('/')) return undefined;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function answer(url: string, namespace: Namespace, hostInfo: () => string): Reply {
  const noFragment = url.split('#', 1)[0]!;
  const q = noFragment.indexOf('?');
  const path = oscPath(q < 0 ? noFragment : noFragment.slice(0, q));
  const query = q < 0 ? '' : noFragment.slice(q + 1);
  if (path === undefined) {
    return {
      status: 400,
      reason: 'oscquery-bad-request',
      message: 'OSCQuery request with an unreadable path',
    };
  }
  // The spec: the path of a HOST_INFO query is irrelevant.
  if (query === 'HOST_INFO') return { status: 200, body: hostInfo() };
  if (query !== '' && !ATTRIBUTES.has(query)) {
    return {
      status: 400,
      reason: 'oscquery-bad-attribute',
      message: `OSCQuery query for ${JSON.stringify(query.slice(0, 64))}, not an attribute hana serves`,
    };
  }
  const a = query === '' ? namespace.get(path) : namespace.attribute(path, query as NodeAttribute);
  if (a.status === 404) {
    return {
      status: 404,
      reason: 'oscquery-not-found',
      message: `OSCQuery request for ${JSON.stringify(path.slice(0, 256))}, not in the namespace`,
    };
  }
  return a;
}

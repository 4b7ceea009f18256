import { readFile } from 'node:fs/promises';

// The page's static files, read once at start (they are small and never change while running),
// and the headers every response carries.

export type PageFile = { readonly body: Buffer; readonly type: string };

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'renderer.js': 'text/javascript; charset=utf-8',
  'isf.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** `files` maps each name in `dir` to its type (the console serves its own page this way). */
export async function loadPageFiles(
  dir = new URL('./page/', import.meta.url),
  files: Readonly<Record<string, string>> = FILES,
): Promise<Map<string, PageFile>> {
  const out = new Map<string, PageFile>();
  for (const [name, type] of Object.entries(files)) {
    out.set(name, { body: await readFile(new URL(name, dir)), type });
  }
  return out;
}

// No inline script or style anywhere, so 'self' is all the page needs; the WebSocket is 'self'
// too (CSP 3 lets 'self' match ws: on the same host and port).
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent with every response, refusals included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  // The page URL carries the token: never hand it to another site.
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

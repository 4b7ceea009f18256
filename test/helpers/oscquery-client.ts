import { request } from 'node:http';
import { createRequire } from 'node:module';
import { WebSocket } from 'ws';

// An OSCQuery client written from the proposal (Vidvox/OSCQueryProposal, README), not from
// hana's server: plain HTTP GETs whose path is the OSC path and whose query names one attribute,
// a WebSocket on the port HOST_INFO names sending {"COMMAND","DATA"} text, and binary OSC read
// with the `osc` package (not hana's decoder).

export type HttpReply = { status: number; type: string | undefined; body: string };

export function httpGet(
  port: number,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The JSON object at `path` (with `?ATTRIBUTE` if given); throws unless 200. */
export async function query(port: number, path: string): Promise<Record<string, unknown>> {
  const r = await httpGet(port, path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as Record<string, unknown>;
}

export type Method = { path: string; node: Record<string, unknown> };

/** Every OSC method in a tree: a node with a TYPE; containers only have CONTENTS. */
export function methods(node: Record<string, unknown>, out: Method[] = []): Method[] {
  if (typeof node.TYPE === 'string') out.push({ path: node.FULL_PATH as string, node });
  const contents = node.CONTENTS as Record<string, Record<string, unknown>> | undefined;
  for (const child of Object.values(contents ?? {})) methods(child, out);
  return out;
}

type OscLib = {
  readPacket(
    data: Uint8Array,
    options: object,
  ): { address: string; args: { type: string; value: unknown }[] };
  writePacket(packet: object, options: object): Uint8Array;
};
const osc = createRequire(import.meta.url)('osc/src/osc.js') as OscLib;

export type OscMessage = { address: string; args: { type: string; value: unknown }[] };

export function encodeOsc(address: string, args: { type: string; value?: unknown }[]): Uint8Array {
  return osc.writePacket({ address, args }, { metadata: true });
}

export type Listening = {
  readonly ws: WebSocket;
  /** Binary frames received so far, decoded. */
  readonly frames: OscMessage[];
  /** Text messages received so far, parsed. */
  readonly texts: unknown[];
  listen(path: string): void;
  ignore(path: string): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
};

/** Opens the WebSocket at WS_PORT (same host), as HOST_INFO describes it. */
export async function openSocket(port: number, headers: Record<string, string> = {}): Promise<Listening> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers });
  const frames: OscMessage[] = [];
  const texts: unknown[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (data, binary) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    // A copy: ws hands out views into a larger buffer, and osc reads from the start of it.
    if (binary) frames.push(osc.readPacket(new Uint8Array(bytes), { metadata: true }));
    else texts.push(JSON.parse(bytes.toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  const send = (COMMAND: string, DATA: string) => ws.send(JSON.stringify({ COMMAND, DATA }));
  return {
    ws,
    frames,
    texts,
    listen: (path) => send('LISTEN', path),
    ignore: (path) => send('IGNORE', path),
    closed,
    close: () => ws.close(),
  };
}

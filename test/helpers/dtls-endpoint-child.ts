import { Socket } from 'node:dgram';
import { type DtlsEndpointInit, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import { createCertificate } from '../../protocols/dtls/werift.ts';

// A DTLS endpoint alone in a process, so a test measures its memory without the test runner's
// own: forked with an IPC channel (and --expose-gc), it answers with its RSS, the endpoint's
// stats and reject counts, and the peaks of both since the last mark. Stats are sampled after
// every datagram the endpoint handles, so a peak is exact, not a poll.

export type ChildReport = {
  port: number;
  rss: number;
  peakRss: number;
  stats: ReturnType<Awaited<ReturnType<typeof openDtlsEndpoint>>['stats']>;
  peakFragmentBytes: number;
  peakHalfOpen: number;
  datagrams: number;
  rejects: Record<string, number>;
};
export type ChildRequest = { type: 'report' | 'mark' | 'close'; gc?: boolean };

export type ChildOptions = Omit<
  DtlsEndpointInit,
  'host' | 'port' | 'credentials' | 'onSession' | 'onReject'
> & {
  /** Keep sessions strangers complete (default: close them at once). */
  keepSessions?: boolean;
};
const { keepSessions, ...options } = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;

const rejects: Record<string, number> = {};
const ep = await openDtlsEndpoint({
  ...options,
  host: '127.0.0.1',
  port: 0,
  credentials: await createCertificate(),
  onSession: (s) => {
    if (!keepSessions) s.close();
  },
  onReject: (code) => {
    rejects[code] = (rejects[code] ?? 0) + 1;
  },
});

let peakRss = 0;
let peakFragmentBytes = 0;
let peakHalfOpen = 0;
let datagrams = 0;
function sample(): void {
  const s = ep.stats();
  peakFragmentBytes = Math.max(peakFragmentBytes, s.fragmentBytes);
  peakHalfOpen = Math.max(peakHalfOpen, s.halfOpen);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}
// Every datagram the endpoint's socket delivers is followed by a sample.
const emit = Socket.prototype.emit as (this: Socket, event: string | symbol, ...args: unknown[]) => boolean;
Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: unknown[]) {
  const r = emit.call(this, event, ...args);
  if (event === 'message') {
    datagrams++;
    sample();
  }
  return r;
} as typeof Socket.prototype.emit;
// Between datagrams (retransmit timers, handshake timeouts) memory moves too.
const ticker = setInterval(sample, 5);

const collect = () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
};
const report = (): ChildReport => ({
  port: ep.port,
  rss: process.memoryUsage.rss(),
  peakRss,
  stats: ep.stats(),
  peakFragmentBytes,
  peakHalfOpen,
  datagrams,
  rejects: { ...rejects },
});

process.on('message', async (m: ChildRequest) => {
  if (m.gc) collect();
  if (m.type === 'mark') {
    peakRss = process.memoryUsage.rss();
    peakFragmentBytes = 0;
    peakHalfOpen = 0;
  }
  if (m.type === 'close') {
    clearInterval(ticker);
    await ep.close();
    process.disconnect();
    return;
  }
  process.send!(report());
});
process.on('disconnect', () => process.exit(0));
process.send!(report());

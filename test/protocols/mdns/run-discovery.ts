import { startDiscovery } from '../../../protocols/mdns/index.ts';

// One discovery in its own process (run inside a namespace the test created), reporting events
// as JSON lines on stdout. Usage: run-discovery.ts '<DiscoveryInit JSON without callbacks>'
// SIGTERM or stdin closing → close() (twice, to prove it is idempotent) and exit 0.

const MAX_LIFETIME_MS = 120_000; // never outlive a crashed test runner

const t0 = performance.now();
const emit = (event: string, data: object = {}) =>
  process.stdout.write(`${JSON.stringify({ event, ms: Math.round(performance.now() - t0), ...data })}\n`);

const opts = JSON.parse(process.argv[2] ?? '{}');
const d = startDiscovery({
  ...opts,
  onFound: (peer) => emit('found', { peer }),
  onLost: (instance) => emit('lost', { instance }),
  onWarning: (message) => emit('warning', { message }),
});
emit('started');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  emit('known', { peers: d.known() });
  await Promise.all([d.close(), d.close()]);
  await d.close();
  emit('closed');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
setTimeout(stop, MAX_LIFETIME_MS).unref();

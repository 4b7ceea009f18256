#!/usr/bin/env -S node --no-node-snapshot --max-semi-space-size=16
// Entry for `hana` (npx, the npm scripts, or `node_modules/.bin/node daemon/cli/bin.js`, the
// fastest: docs/cli.md): checks the runtime, then runs the TypeScript CLI (Node >= 24 strips types).
// --max-semi-space-size=16: on a 24 GiB laptop V8 lets the young generation grow to 128 MiB under
// the daemon's steady allocation, and RSS climbs with it and stays (docs/soak.md); 16 MiB semi-
// spaces hold it near 32 MiB. V8 reads the flag only at start, so it is on every launcher
// (this line, package.json's scripts, the plugin host's fork, test/helpers/daemon.ts).
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
  process.stderr.write(
    `hana: needs Node.js 24 or newer, this is ${process.version}: run it on the Node that npm ci pinned, \`${pinned} ${fileURLToPath(import.meta.url)} …\` (or put its folder first on PATH; docs/cli.md).\n`,
  );
  process.exit(1);
}
// Node strips the types from every .ts it loads, and the first file alone costs 100–250 ms
// (loading Node's type stripper, a WebAssembly build of swc): more than the rest of `hana status`.
// The module compile cache keeps the stripped source and V8's code cache, keyed by each file's
// content, so a warm `hana status` skips both (`npm run bench -- cli`). It lives in this
// install's node_modules, writable only by whoever can already change the code it caches (a
// shared /tmp, Node's default, is not); where it cannot be written, Node runs without it.
const nodeModule = await import('node:module');
nodeModule.enableCompileCache?.(
  fileURLToPath(new URL('../../node_modules/.cache/hana-compile', import.meta.url)),
);
const { main } = await import('./main.ts');
main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`hana: unexpected error: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env -S node --no-node-snapshot
// Entry for `npx hana`: checks the runtime, then runs the TypeScript CLI (Node >= 24 strips types).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `hana: needs Node.js 24 or newer, this is ${process.version}: run it through npm (\`npx hana\`, \`npm start\`), which uses the pinned Node from node_modules.\n`,
  );
  process.exit(1);
}
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

import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

// Preload (`node --import`) that writes every module URL the process resolved, one a line, to
// the file named by HANA_RECORD_MODULES when it exits: how a test sees what a command loaded.

const out = process.env.HANA_RECORD_MODULES;
if (!out) throw new Error('record-modules.ts needs HANA_RECORD_MODULES: the file to write the URLs to');
const seen = new Set<string>();
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    seen.add(r.url);
    return r;
  },
});
process.on('exit', () => writeFileSync(out, [...seen].join('\n')));

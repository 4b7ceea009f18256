import { readFile } from 'node:fs/promises';
import { UsageError } from './args.ts';

// Where a publisher passphrase comes from, in order: --passphrase-file, the
// HANA_PUBLISHER_PASSPHRASE environment variable (CI), or a prompt with echo off when stdin is
// a terminal. Never from a command-line value: that would end up in shell history and `ps`.

export const PASSPHRASE_ENV = 'HANA_PUBLISHER_PASSPHRASE';
const MIN_LENGTH = 8;

function promptHidden(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve) => {
    let typed = '';
    const finish = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(typed);
        if (ch === '\u0003' || ch === '\u0004') return finish(undefined); // Ctrl-C, Ctrl-D
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function fromFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --passphrase-file ${path}: ${(err as Error).message}`);
  }
  // One trailing newline is what `echo secret > file` adds; anything else is part of it.
  return text.replace(/\r?\n$/, '');
}

export type PassphraseResult = { ok: true; passphrase: string } | { ok: false; error: string };

/**
 * The passphrase for `purpose`. With `confirm` (a new key) it is asked twice and must be at
 * least MIN_LENGTH characters.
 */
export async function readPassphrase(
  flags: Record<string, string | boolean>,
  purpose: string,
  confirm: boolean,
): Promise<PassphraseResult> {
  let passphrase: string | undefined;
  const file = flags['passphrase-file'];
  if (typeof file === 'string') passphrase = await fromFile(file);
  else if (process.env[PASSPHRASE_ENV] !== undefined) passphrase = process.env[PASSPHRASE_ENV];
  else if (process.stdin.isTTY) {
    passphrase = await promptHidden(`${purpose}: `);
    if (passphrase === undefined) return { ok: false, error: 'cancelled' };
    if (confirm) {
      const again = await promptHidden('the same passphrase again: ');
      if (again !== passphrase)
        return { ok: false, error: 'the two passphrases differ; nothing was written' };
    }
  } else {
    return {
      ok: false,
      error: `no passphrase: set ${PASSPHRASE_ENV}, pass --passphrase-file FILE, or run in a terminal to be asked`,
    };
  }
  if (passphrase === undefined || passphrase.length === 0)
    return { ok: false, error: 'the passphrase is empty' };
  if (confirm && passphrase.length < MIN_LENGTH) {
    return {
      ok: false,
      error: `use a passphrase of at least ${MIN_LENGTH} characters; it is all that protects the key`,
    };
  }
  return { ok: true, passphrase };
}

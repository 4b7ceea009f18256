import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPublishers, publisherStatus } from '../trust-store/publishers.ts';
import { unpackArchive } from './archive.ts';
import { digestPlugin, readPluginFile } from './digest.ts';
import { claimedKeyId, verifyAgainst } from './installed.ts';
import { type Scanned, scanJs } from './js-scan.ts';
import { type PluginManifest, parseManifest } from './manifest.ts';

// `hana plugin audit`: what an operator is about to trust, before installing it — what the
// plugin declares (parameters read and written, resource limits), who signed it and whether that
// publisher is trusted here, and a static read of its JavaScript for things that can never work
// in the sandbox or that suggest intent beyond drawing. The sandbox enforces the rules either
// way; the audit exists so that "it tries to use fetch" is known before, not after.

export type Severity = 'error' | 'warning' | 'info';
export type Flag = {
  readonly rule: string;
  readonly severity: Severity;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** The source line around the match, escaped for a terminal, at most ~120 characters. */
  readonly excerpt: string;
};

export const STATIC_SCAN_LIMITS =
  'A static scan sees only what is written literally: code assembled at run time (globalThis["req" + "uire"], ' +
  'decoded strings passed to eval or Function, obfuscated bundles) can hide from it, and a name flagged may ' +
  'be a harmless local variable. It informs the decision to trust a publisher; the sandbox enforces the rules.';

type Rule = { rule: string; severity: Severity; re: RegExp; message: string };

// Matched on code with comments, strings and regexes blanked. "(?<![.\w$])" skips property
// names (obj.fetch) and longer identifiers (myrequire).
const NOT_MEMBER = String.raw`(?<![.\w$])`;
const GLOBAL = String.raw`(?:${NOT_MEMBER}(?:globalThis|window|self|global)\s*\.\s*|${NOT_MEMBER})`;
const CODE_RULES: readonly Rule[] = [
  {
    rule: 'require',
    severity: 'error',
    re: new RegExp(`${GLOBAL}require\\s*\\(`, 'g'),
    message: 'require() does not exist in the sandbox: bundle dependencies into the entry (esbuild --bundle)',
  },
  {
    rule: 'dynamic-import',
    severity: 'error',
    re: new RegExp(`${NOT_MEMBER}import\\s*\\(`, 'g'),
    message: 'import() cannot load anything in the sandbox: bundle it',
  },
  {
    rule: 'process',
    severity: 'error',
    re: new RegExp(`${GLOBAL}process\\b(?!\\s*:)`, 'g'),
    message: 'process is Node-only and does not exist in the sandbox',
  },
  {
    rule: 'eval',
    severity: 'warning',
    re: new RegExp(`${GLOBAL}eval\\b`, 'g'),
    message: 'eval runs code built at run time, which this audit cannot see',
  },
  {
    rule: 'function-constructor',
    severity: 'warning',
    re: new RegExp(`${GLOBAL}Function\\s*\\(`, 'g'),
    message: 'new Function()/Function() runs code built at run time, which this audit cannot see',
  },
  {
    rule: 'constructor-chain',
    severity: 'warning',
    re: /\.\s*constructor\s*\.\s*constructor\b|\[\s*['"`]constructor['"`]\s*\]/g,
    message: 'reaches the Function constructor by another name',
  },
  {
    rule: 'network',
    severity: 'error',
    re: new RegExp(
      `${GLOBAL}(?:fetch\\s*\\(|XMLHttpRequest\\b|WebSocket\\b|EventSource\\b|RTCPeerConnection\\b)`,
      'g',
    ),
    message: 'there is no network in the sandbox; this suggests the plugin wants to send or fetch data',
  },
  {
    rule: 'sendBeacon',
    severity: 'error',
    re: /\bnavigator\s*\.\s*sendBeacon\b/g,
    message: 'there is no network in the sandbox; this suggests the plugin wants to send data',
  },
  {
    rule: 'timer',
    severity: 'error',
    re: new RegExp(`${GLOBAL}(?:setTimeout|setInterval|setImmediate|requestAnimationFrame)\\b`, 'g'),
    message: 'there are no timers in the sandbox: work happens in frame(), once per frame',
  },
  {
    rule: 'atomics-wait',
    severity: 'error',
    re: /\bAtomics\s*\.\s*wait(?:Async)?\b/g,
    message: 'Atomics.wait blocks the frame and is stopped by the CPU limit',
  },
  {
    rule: 'shared-memory',
    severity: 'warning',
    re: new RegExp(`${GLOBAL}SharedArrayBuffer\\b`, 'g'),
    message: 'SharedArrayBuffer is a building block of timing attacks and has no use for drawing',
  },
  {
    rule: 'webassembly',
    severity: 'warning',
    re: new RegExp(`${GLOBAL}WebAssembly\\b`, 'g'),
    message: 'WebAssembly is compiled code this audit cannot read',
  },
  {
    rule: 'atob',
    severity: 'info',
    re: new RegExp(`${GLOBAL}atob\\s*\\(`, 'g'),
    message: 'decodes base64 at run time; check what is decoded',
  },
];

// In string text: code-like words are a hint of code kept in strings for later evaluation.
const STRING_CODE = /\b(?:require|eval|Function|fetch|process\.env|import)\s*\(|\bprocess\.\w+/;
const BASE64_RUN = /[A-Za-z0-9+/_-]{512,}={0,2}/;
const HEX_RUN = /(?:[0-9a-fA-F]{2}){256,}/;
const LONG_LINE = 2000;
const MAX_PER_RULE = 10;
const MAX_JS_BYTES = 8 * 1024 * 1024;

function excerpt(line: string, column: number): string {
  const from = Math.max(0, column - 40);
  const cut = line.slice(from, from + 120);
  const safe = JSON.stringify(cut).slice(1, -1);
  return `${from > 0 ? '…' : ''}${safe}${from + 120 < line.length ? '…' : ''}`;
}

/** Flags in one JavaScript file's text; at most MAX_PER_RULE per rule, with the count beyond. */
export function scanSource(file: string, src: string): { flags: Flag[]; omitted: number } {
  const scanned: Scanned = scanJs(src);
  const lines = src.split('\n');
  const codeLines = scanned.code.split('\n');
  const flags: Flag[] = [];
  const counts = new Map<string, number>();
  let omitted = 0;
  const add = (rule: Rule | Omit<Rule, 're'>, line: number, column: number, message = rule.message) => {
    const n = (counts.get(rule.rule) ?? 0) + 1;
    counts.set(rule.rule, n);
    if (n > MAX_PER_RULE) {
      omitted++;
      return;
    }
    flags.push({
      rule: rule.rule,
      severity: rule.severity,
      file,
      line,
      column,
      message,
      excerpt: excerpt(lines[line - 1] ?? '', column),
    });
  };
  codeLines.forEach((text, i) => {
    for (const r of CODE_RULES) {
      r.re.lastIndex = 0;
      for (let m = r.re.exec(text); m; m = r.re.exec(text)) add(r, i + 1, m.index + 1);
    }
  });
  lines.forEach((text, i) => {
    if (text.length > LONG_LINE) {
      add(
        { rule: 'minified', severity: 'info', message: '' },
        i + 1,
        1,
        `line of ${text.length} characters: minified code is hard to review; ask for the unminified source`,
      );
    }
  });
  for (const s of scanned.strings) {
    const b64 = BASE64_RUN.exec(s.text) ?? HEX_RUN.exec(s.text);
    if (b64) {
      add(
        { rule: 'encoded-payload', severity: 'warning', message: '' },
        s.line,
        s.column,
        `a string holds ${b64[0].length} characters of encoded data; it could be hidden code or data to decode`,
      );
    }
    if (STRING_CODE.test(s.text)) {
      add(
        { rule: 'code-in-string', severity: 'info', message: '' },
        s.line,
        s.column,
        'a string holds code-like text (require/eval/fetch/process); check whether it is ever evaluated',
      );
    }
  }
  return { flags, omitted };
}

export type AuditReport = {
  readonly source: string;
  readonly manifest: ({ ok: true } & PluginManifest) | { ok: false; error: string };
  readonly publisher: {
    readonly keyId: string | null;
    readonly state: 'trusted' | 'revoked' | 'unknown';
    readonly name?: string;
    readonly revoked?: { at: string; reason: string };
  };
  readonly signature:
    | { ok: true; keyId: string; signedAt: string }
    | { ok: false; code: string; error: string };
  readonly files: { readonly count: number; readonly bytes: number; readonly scanned: readonly string[] };
  readonly flags: readonly Flag[];
  /** Matches beyond MAX_PER_RULE per rule and file, not listed. */
  readonly omittedFlags: number;
  readonly limits: string;
};

export type AuditResult = { ok: true; report: AuditReport } | { ok: false; code: string; error: string };

/** Audits a plugin folder or .hana-plugin archive; `home` gives the publishers to judge against. */
export async function auditPlugin(source: string, home: string): Promise<AuditResult> {
  const st = await stat(source).catch(() => undefined);
  if (!st) return { ok: false, code: 'not-found', error: `${source} does not exist` };
  if (st.isDirectory()) return auditFolder(source, source, home);
  const tmp = await mkdtemp(join(tmpdir(), 'hana-audit-'));
  try {
    const dir = join(tmp, 'plugin');
    const r = await unpackArchive(source, dir);
    if (!r.ok) return { ok: false, code: r.code, error: `${source}: ${r.error}` };
    return await auditFolder(dir, source, home);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function auditFolder(dir: string, source: string, home: string): Promise<AuditResult> {
  const d = await digestPlugin(dir);
  if (!d.ok) return { ok: false, code: d.code, error: d.error };
  const pubs = await loadPublishers(home);
  if (!pubs.ok) return { ok: false, code: 'publishers-unreadable', error: pubs.error };

  let manifest: AuditReport['manifest'] = { ok: false, error: 'plugin.json is missing' };
  const read = await readPluginFile(dir, 'plugin.json', 64 * 1024);
  if (read.ok) {
    try {
      const m = parseManifest(JSON.parse(read.bytes.toString('utf8')));
      manifest = m.ok ? { ok: true, ...m.manifest } : { ok: false, error: m.error };
    } catch (err) {
      manifest = { ok: false, error: `plugin.json is not JSON: ${(err as Error).message}` };
    }
  } else if (!read.missing) manifest = { ok: false, error: read.error };

  const keyId = (await claimedKeyId(dir)) ?? (manifest.ok ? manifest.publisher : null);
  const status = keyId ? publisherStatus(pubs.file, keyId) : { state: 'unknown' as const };
  const publisher: AuditReport['publisher'] =
    status.state === 'unknown'
      ? { keyId, state: 'unknown' }
      : {
          keyId,
          state: status.state,
          name: status.publisher.name,
          ...(status.publisher.revoked && { revoked: status.publisher.revoked }),
        };

  const v = await verifyAgainst(dir, pubs.file);
  const signature: AuditReport['signature'] = v.ok
    ? { ok: true, keyId: v.keyId, signedAt: v.trustedComment.time }
    : { ok: false, code: v.code, error: v.error };

  const flags: Flag[] = [];
  let omittedFlags = 0;
  const scanned: string[] = [];
  for (const f of d.files) {
    if (!/\.(?:m?js|cjs)$/.test(f.path)) continue;
    const js = await readPluginFile(dir, f.path, MAX_JS_BYTES);
    if (!js.ok) {
      flags.push({
        rule: 'unreadable',
        severity: 'warning',
        file: f.path,
        line: 0,
        column: 0,
        message: js.error,
        excerpt: '',
      });
      continue;
    }
    scanned.push(f.path);
    const r = scanSource(f.path, js.bytes.toString('utf8'));
    flags.push(...r.flags);
    omittedFlags += r.omitted;
  }
  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  flags.sort(
    (a, b) => order[a.severity] - order[b.severity] || a.file.localeCompare(b.file) || a.line - b.line,
  );
  return {
    ok: true,
    report: {
      source,
      manifest,
      publisher,
      signature,
      files: { count: d.files.length, bytes: d.files.reduce((n, f) => n + f.size, 0), scanned },
      flags,
      omittedFlags,
      limits: STATIC_SCAN_LIMITS,
    },
  };
}

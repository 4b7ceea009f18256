// What the peer-link scenarios share: timing helpers, and one sink for the endpoints'
// rejections and the link managers' warnings, summarised once at the end of the run.
import { createLogger } from '../../daemon/log.ts';
import type { DtlsRejectCode } from '../../protocols/dtls/endpoint.ts';

export type Report = (line: string) => void;

export const now = () => performance.now();

/** Nearest-rank percentile of an ascending array: p99 of 100 samples is the 99th, of 50 the slowest. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export const ascending = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Rejections by code, over every endpoint of the run (a replayed or dropped record shows here). */
export const rejections = new Map<DtlsRejectCode, number>();
export const onReject = (code: DtlsRejectCode) => {
  rejections.set(code, (rejections.get(code) ?? 0) + 1);
};

/** Link managers' warnings (refusals, bind errors): collected, not printed per line. */
export const warnings: string[] = [];
export const log = createLogger({
  level: 'warn',
  destination: { write: (line) => void warnings.push(line) },
});

import { z } from 'zod';

// Shader faults reported by output pages: a shader that does not compile or link, a WebGL context
// lost while a plugin's shader drew, a shader too slow to draw. A page is the only place that
// sees them (the shader runs in its browser), so it tells the daemon over its WebSocket. Its
// word is taken as the page is trusted (loopback and the token), but bounded: a page's report is
// a small checked message, at most REPORTS_PER_SECOND of them per page address are heard, and a
// plugin is quarantined only as the fault policy says (compile and link errors at once: they
// fail the same way everywhere, every time; losses and slowness after `repeat` within `windowMs`).

export const FAULT_KINDS = ['compile', 'link', 'context-lost', 'too-slow', 'refused'] as const;
export type ShaderFaultKind = (typeof FAULT_KINDS)[number];

const Report = z
  .object({
    fault: z
      .object({
        plugin: z.string().min(1).max(64),
        shader: z.number().int().min(0).max(15),
        kind: z.enum(FAULT_KINDS),
        message: z.string().max(600),
      })
      .strict(),
  })
  .strict();
export type ShaderFault = z.infer<typeof Report>['fault'];

/** A page's message as a fault report, or undefined (anything else a page says is ignored). */
export function parseFaultReport(text: string): ShaderFault | undefined {
  if (text.length > 1024) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = Report.safeParse(raw);
  return r.success ? r.data.fault : undefined;
}

const REPORTS_PER_SECOND = 10;

export type ShaderFaultsInit = {
  /** Ids of plugins whose shaders run now: a report naming another is ignored. */
  running(id: string): boolean;
  onFault(f: ShaderFault, count: number): void;
  onQuarantine(id: string, reason: string): void;
  now: () => number;
  repeat?: number;
  windowMs?: number;
};

export type ShaderFaults = {
  report(text: string, remote: string): void;
  counts(): Record<string, number>;
};

export function createShaderFaults(init: ShaderFaultsInit): ShaderFaults {
  const repeat = init.repeat ?? 3;
  const windowMs = init.windowMs ?? 60_000;
  const recent = new Map<string, number[]>();
  const totals = new Map<string, number>();
  const heard = new Map<string, { second: number; n: number }>();
  const quarantined = new Set<string>();
  return {
    report(text, remote) {
      const now = init.now();
      const h = heard.get(remote);
      const second = Math.floor(now / 1000);
      if (h && h.second === second && h.n >= REPORTS_PER_SECOND) return;
      heard.set(remote, h && h.second === second ? { second, n: h.n + 1 } : { second, n: 1 });
      if (heard.size > 256) heard.clear();
      const f = parseFaultReport(text);
      if (!f || !init.running(f.plugin) || quarantined.has(f.plugin)) return;
      totals.set(f.plugin, (totals.get(f.plugin) ?? 0) + 1);
      const times = (recent.get(f.plugin) ?? []).filter((t) => t > now - windowMs);
      times.push(now);
      recent.set(f.plugin, times);
      init.onFault(f, totals.get(f.plugin)!);
      const permanent = f.kind === 'compile' || f.kind === 'link' || f.kind === 'refused';
      if (permanent || times.length >= repeat) {
        quarantined.add(f.plugin);
        const why = permanent
          ? `shader ${f.shader} ${f.kind === 'refused' ? 'was refused by the output page' : `failed to ${f.kind}`}: ${f.message}`
          : `${times.length} shader faults within ${windowMs / 1000} s, the last ${f.kind}: ${f.message}`;
        init.onQuarantine(f.plugin, why);
      }
    },
    counts: () => Object.fromEntries(totals),
  };
}

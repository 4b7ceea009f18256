import { formatDeviceId } from '../../../trust-store/device-id.ts';
import { a, announce, encodeName, encodeResponse, ptr, type Rr, SERVICE, srv, TYPE, txt } from './forge.ts';

// Random and mutated `_hana._udp` announcements from a seeded generator (replay a failure
// from its seed). Each packet is one of the shapes below; most are wrong in some way.

export const FUZZ_KINDS = [
  'random-txt',
  'huge-values',
  'wrong-values',
  'missing-records',
  'bogus-addresses',
  'wrong-types',
  'odd-instance',
  'flipped-bytes',
  'truncated',
  'valid',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

export type FuzzInit = {
  rand: () => number;
  /** The daemon's ensemble tag, so some packets get past that check to the ones behind it. */
  ensembleTag: string;
};

export function createFuzzer(init: FuzzInit) {
  const { rand } = init;
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const printable = (n: number) => String.fromCharCode(...Array.from({ length: n }, () => 0x21 + int(94)));
  const deviceId = () => formatDeviceId(bytes(32));
  const value = (): string | Uint8Array =>
    pick([
      () => printable(1 + int(40)),
      () => bytes(int(255)),
      () => '',
      () => deviceId(),
      () => deviceId().toLowerCase(),
      () => `${deviceId().slice(0, -2)}ZZ`,
      () => String(int(10) - 2),
      () => '1e3',
      () => 'é'.repeat(int(60)),
      () => '\u0000\n\r',
    ])();
  const key = () => pick(['v', 'id', 'ens', '__proto__', 'constructor', 'toString', 'x', '', '=', 'V']);
  const entry = (): string | Uint8Array => {
    const v = value();
    return pick([
      () => Buffer.concat([Buffer.from(`${key()}=`), Buffer.from(v)]),
      () => key(), // no '='
      () => bytes(int(255)),
      () => `${key()}==${typeof v === 'string' ? v : 'x'}`,
    ])();
  };
  const instance = () => `fz-${int(1e9).toString(36)}`;
  const goodTxt = () => ({ v: '1', id: deviceId(), ens: init.ensembleTag });
  const base = () => ({ instance: instance(), port: 1 + int(65535), txt: goodTxt() });

  const shapes: Record<FuzzKind, () => Buffer> = {
    'random-txt': () => announce({ ...base(), txt: Array.from({ length: int(20) }, entry) }),
    'huge-values': () =>
      announce({
        ...base(),
        txt: Array.from({ length: 1 + int(30) }, () => `${key()}=${printable(250)}`),
      }),
    'wrong-values': () => {
      const t: Record<string, string> = goodTxt();
      const k = pick(['v', 'id', 'ens']);
      t[k] = (() => {
        const v = value();
        return typeof v === 'string' ? v : Buffer.from(v).toString('latin1');
      })();
      return announce({ ...base(), txt: t });
    },
    'missing-records': () => {
      const omit = (['ptr', 'srv', 'txt'] as const).filter(() => rand() < 0.5);
      return announce({ ...base(), omit });
    },
    'bogus-addresses': () =>
      announce({
        ...base(),
        addresses: Array.from({ length: int(40) }, () =>
          pick(['0.0.0.0', '255.255.255.255', '224.0.0.251', '127.0.0.1', `10.${int(256)}.${int(256)}.9`]),
        ),
      }),
    'wrong-types': () => {
      const b = base();
      const fqdn = `${b.instance}.${SERVICE}`;
      const junk: Rr = {
        name: fqdn,
        type: pick([TYPE.SRV, TYPE.TXT, TYPE.A, TYPE.PTR, TYPE.NSEC, int(65536)]),
        data: bytes(int(64)),
      };
      const records: Rr[] = [ptr(fqdn), junk, srv(fqdn, b.port, `${b.instance}.local`), txt(fqdn, ['v=1'])];
      // A wrong-length A record, a goodbye (TTL 0), a class that is not IN.
      records.push({ ...a(`${b.instance}.local`, '10.1.2.3'), data: bytes(pick([0, 3, 16])) });
      for (const r of records) {
        if (rand() < 0.2) r.ttl = 0;
        if (rand() < 0.2) r.cls = int(65536);
      }
      return encodeResponse(records.filter(() => rand() < 0.8));
    },
    'odd-instance': () => {
      const label = pick([
        () => Buffer.from('dot.ted'),
        () => Buffer.from('x'.repeat(63)),
        () => Buffer.from('é'.repeat(31)),
        () => Buffer.from('evil\nline'),
        () => bytes(1 + int(63)),
      ])();
      const rawName = Buffer.concat([Buffer.from([label.length]), label, encodeName(SERVICE)]);
      const fqdn = `${label.toString('latin1')}.${SERVICE}`;
      const host = 'odd.local';
      const records: Rr[] = [
        { name: SERVICE, type: TYPE.PTR, data: rawName },
        { ...srv(fqdn, 1 + int(65535), host), rawName },
        {
          ...txt(
            fqdn,
            Object.entries(goodTxt()).map(([k, v]) => `${k}=${v}`),
          ),
          rawName,
        },
      ];
      return encodeResponse(records);
    },
    'flipped-bytes': () => {
      const p = announce(base());
      for (let i = 1 + int(8); i > 0; i--) p[int(p.length)] = int(256);
      return p;
    },
    truncated: () => {
      const p = announce(base());
      return p.subarray(0, int(p.length));
    },
    valid: () => announce(base()),
  };

  return {
    /** One packet; `valid` ones are rare, each makes the daemon dial (and fail). */
    next(): { kind: FuzzKind; packet: Buffer } {
      const kind = rand() < 0.01 ? 'valid' : pick(FUZZ_KINDS.filter((k) => k !== 'valid'));
      return { kind, packet: shapes[kind]() };
    },
  };
}

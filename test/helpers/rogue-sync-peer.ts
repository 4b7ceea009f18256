// A rogue sync peer for attack tests (issue 12): a child process with a real key and
// certificate of its own, which binds honestly over real DTLS to daemons that pinned it, then
// sends sync/v2 messages the test crafts, built with the real codec and signed with ITS OWN
// key. It holds no other device's key, so anything it labels with another origin cannot carry
// that origin's signature: exactly the position of a hostile laptop on the stage.
//   node --no-node-snapshot rogue-sync-peer.ts [name]
// Prints one JSON line per event:
//   {"identity":{"deviceId"}}        first, before any dial: the test pins this ID where it wants
//   {"bound":{"peer","address"}}     our bind went out on a new link to that daemon
//   {"trusted":{"peer"}}             that daemon sent its first sync message: it trusts the link
//   {"sent":{"peer","kind","bytes"}} a crafted message left
//   {"closed":{"peer","reason"}}     that daemon ended the link (a close message, or the session)
//   {"error":"…"}                    a command could not be carried out
// Commands on stdin, one JSON line each (entries: [{path, value, t?, ahead?, c?}], where t is a
// stamp time in ms, ahead a time relative to this process's clock, default now; c default 0):
//   {"dial":{"address","port"}}
//   {"updates":{"to","entries"}}                  our own writes, as the daemons send theirs
//   {"snapshot":{"to","origin","entries"}}        one snapshot part with a batch labelled `origin`
//   {"updatesAs":{"to","origin","entries"}}       an updates datagram whose batch spells out
//                                                 `origin`, which only the codec's check refuses
// Sessions a daemon dials to us are closed at once: the rogue only ever speaks first.
import { sign, X509Certificate } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Value } from '../../daemon/state/coerce.ts';
import { createInbox, type Inbox } from '../../daemon/sync/inbox.ts';
import { createWriter } from '../../daemon/sync/v2/bytes.ts';
import {
  type Batch,
  decodeSync,
  encodeEntryList,
  encodeSync,
  MAX_ENTRY_LIST_BYTES,
  MAX_SYNC_BYTES,
  SYNC_TYPE,
  type SyncEntry,
  signedBytes,
  writeBatch,
} from '../../daemon/sync/v2/codec.ts';
import { type DtlsSession, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import { createCertificate } from '../../protocols/dtls/werift.ts';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { answerLink, sendBind } from './scripted-link.ts';

type EntrySpec = { path: string; value: Value; t?: number; ahead?: number; c?: number };
type Command =
  | { dial: { address: string; port: number } }
  | { updates: { to: string; entries: EntrySpec[] } }
  | { snapshot: { to: string; origin: string; entries: EntrySpec[] } }
  | { updatesAs: { to: string; origin: string; entries: EntrySpec[] } };

const name = process.argv[2] ?? 'rogue';
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);
const wall = () => performance.timeOrigin + performance.now();

const own = await createCertificate();
const ownDer = der(own.certPem);
const self = deviceIdFromCertDer(ownDer);

/** Our signature over whatever origin label we put on a list: only our own label makes it valid. */
const signLabelled = (origin: string, list: Uint8Array) =>
  new Uint8Array(sign('sha256', signedBytes(origin, list), { key: own.keyPem, dsaEncoding: 'ieee-p1363' }));

type Link = { session: DtlsSession; seq: number; inbox: Inbox; trusted: boolean };
const links = new Map<string, Link>();
const dialling = new Set<string>();

const endpoint = await openDtlsEndpoint({
  host: '0.0.0.0',
  port: 0,
  credentials: own,
  // A daemon that dials back (after dropping us, say) gets no bind and no session. A dial of
  // ours may resolve with the session the other side started, so those are left to connect().
  onSession: (s) => {
    if (s.role === 'server' && !dialling.has(`${s.remote.address}:${s.remote.port}`)) s.close();
  },
  onReject: () => {},
});

function entriesOf(specs: readonly EntrySpec[]): SyncEntry[] {
  return specs.map((s) => ({
    path: s.path,
    value: s.value,
    stamp: { t: s.t ?? Math.round(Date.now() + (s.ahead ?? 0)), c: s.c ?? 0, node: '' },
  }));
}

function linkTo(peer: string): Link {
  const l = links.get(peer);
  if (!l) throw new Error(`no link to ${peer}`);
  return l;
}

function send(peer: string, kind: string, bytes: Uint8Array): void {
  linkTo(peer).session.send(bytes);
  emit({ sent: { peer, kind, bytes: bytes.length } });
}

/** The sync messages a trusted daemon sends us: acks keep its window open, pongs its clock. */
function onSync(peer: string, l: Link, bytes: Uint8Array): void {
  if (!l.trusted) {
    l.trusted = true;
    emit({ trusted: { peer } });
  }
  const r = decodeSync(bytes, peer);
  if (!r.ok) return;
  const m = r.msg;
  if (m.kind === 'updates') {
    for (let i = 0; i < m.batch.entries.length; i++) l.inbox.receive(m.firstSeq + i);
    const a = l.inbox.ack();
    l.session.send(encodeSync({ kind: 'ack', upTo: a.upTo, sack: a.sack }, self));
  } else if (m.kind === 'clock-ping') {
    const t2 = wall();
    l.session.send(encodeSync({ kind: 'clock-pong', id: m.id, t1: m.t1, t2, t3: wall() }, self));
  } else if (m.kind === 'cert-request' && m.ids.includes(self)) {
    l.session.send(encodeSync({ kind: 'cert', der: ownDer }, self));
  }
}

async function dial(address: string, port: number): Promise<void> {
  dialling.add(`${address}:${port}`);
  const s = await endpoint.connect({ address, port }).finally(() => dialling.delete(`${address}:${port}`));
  const peer = deviceIdFromCertDer(s.peerCertDer);
  const l: Link = { session: s, seq: 1, inbox: createInbox(), trusted: false };
  links.set(peer, l);
  let closed = false;
  const close = (reason: string) => {
    if (closed || links.get(peer) !== l) return;
    closed = true;
    links.delete(peer);
    emit({ closed: { peer, reason } });
  };
  answerLink(s, { close, sync: (b) => onSync(peer, l, b) });
  sendBind(s, own, name);
  emit({ bound: { peer, address: `${address}:${port}` } });
}

function run(cmd: Command): Promise<void> | void {
  if ('dial' in cmd) return dial(cmd.dial.address, cmd.dial.port);
  if ('updates' in cmd) {
    const { to, entries } = cmd.updates;
    const l = linkTo(to);
    const list = encodeEntryList(entriesOf(entries), MAX_ENTRY_LIST_BYTES);
    const batch: Batch = { origin: self, list, sig: signLabelled(self, list) };
    const firstSeq = l.seq;
    l.seq += entries.length;
    return send(to, 'updates', encodeSync({ kind: 'updates', firstSeq, batch }, self));
  }
  if ('snapshot' in cmd) {
    const { to, origin, entries } = cmd.snapshot;
    const list = encodeEntryList(entriesOf(entries), MAX_ENTRY_LIST_BYTES);
    const batch: Batch = { origin, list, sig: signLabelled(origin, list) };
    return send(
      to,
      'snapshot',
      encodeSync({ kind: 'snapshot-part', id: 1, part: 0, parts: 1, batches: [batch] }, self),
    );
  }
  // encodeSync refuses an updates batch of another origin, so the message is put together from
  // the codec's own parts: type, firstSeq, then the batch with its origin written out.
  const { to, origin, entries } = cmd.updatesAs;
  const l = linkTo(to);
  const list = encodeEntryList(entriesOf(entries), MAX_ENTRY_LIST_BYTES);
  const w = createWriter(MAX_SYNC_BYTES);
  w.u8(SYNC_TYPE.updates);
  w.varint(l.seq);
  l.seq += entries.length;
  writeBatch(w, { origin, list, sig: signLabelled(origin, list) }, self);
  return send(to, 'updatesAs', w.finish());
}

emit({ identity: { deviceId: self } });
for await (const line of createInterface({ input: process.stdin })) {
  try {
    await run(JSON.parse(line) as Command);
  } catch (err) {
    emit({ error: (err as Error).message });
  }
}
await endpoint.close();

// A scripted link peer for tests: a key and certificate of its own, so it binds honestly and is
// pinned like any daemon, but what it announces afterwards is up to the test.
//   node link-peer-cli.ts <port> <name>
// Dials 127.0.0.1:<port>, binds as <name>, answers pings, and prints one JSON line per event:
//   {"ready":{"deviceId"}}  bound (the daemon decides on its own whether to trust us)
//   {"closed":"<reason>"}    the daemon closed the link
//   {"rotated":{"deviceId"}} a rotation was sent
// Commands on stdin, one JSON line each:
//   {"rotate":{"certPem":"…"}}  announce that certificate as our next identity, signed by our key
//   {"rotate":"fresh"}          make a new identity and announce it
//   {"rebind":true}             end the link and dial again under the identity last announced
import { X509Certificate } from 'node:crypto';
import { createInterface } from 'node:readline';
import { signRotation } from '../../daemon/link/binding.ts';
import { encodeLink } from '../../daemon/link/v1/wire.ts';
import { type DtlsEndpoint, type DtlsSession, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import { type Credentials, createCertificate } from '../../protocols/dtls/werift.ts';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { answerLink, sendBind } from './scripted-link.ts';

const [port, name] = process.argv.slice(2);
const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

let own: Credentials = await createCertificate();
let next: Credentials | undefined;
let ep: DtlsEndpoint | undefined;
let session: DtlsSession | undefined;

async function dial(): Promise<void> {
  ep = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: own,
    onSession: () => {},
    onReject: () => {},
  });
  const s = await ep.connect({ address: '127.0.0.1', port: Number(port) });
  session = s;
  let closed = false;
  const close = (reason: string) => {
    if (closed || session !== s) return;
    closed = true;
    emit({ closed: reason });
  };
  answerLink(s, { close });
  sendBind(s, own, name!);
  emit({ ready: { deviceId: deviceIdFromCertDer(der(own.certPem)) } });
}

function rotate(certPem: string): void {
  const sig = signRotation(own.keyPem, der(own.certPem), der(certPem));
  const cert = Buffer.from(der(certPem)).toString('base64');
  session!.send(encodeLink({ type: 'rotate', body: { cert, sig } }));
  emit({ rotated: { deviceId: deviceIdFromCertDer(der(certPem)) } });
}

await dial();
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { rotate?: 'fresh' | { certPem: string }; rebind?: true };
  if (cmd.rotate === 'fresh') {
    next = await createCertificate();
    rotate(next.certPem);
  } else if (cmd.rotate) {
    rotate(cmd.rotate.certPem);
  } else if (cmd.rebind) {
    const old = ep;
    session = undefined;
    await old?.close();
    if (next) own = next;
    await dial();
  }
}
await ep?.close();

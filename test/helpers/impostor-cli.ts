// An impostor for tests: dials a daemon presenting a victim's certificate (read from the
// victim's home) while holding a different private key, then tries to bind.
//   node impostor-cli.ts <victim-home> <port>
// Prints one JSON line: whether the DTLS handshake completed and how the daemon answered.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPORTER_LABEL, signBinding } from '../../daemon/link/binding.ts';
import { decodeLink, encodeLink, LINK_VERSION } from '../../daemon/link/v1/wire.ts';
import { openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import { createCertificate } from '../../protocols/dtls/werift.ts';

const [victimHome, port] = process.argv.slice(2);
const victim = JSON.parse(readFileSync(join(victimHome!, 'identity.json'), 'utf8')) as { certPem: string };
const own = await createCertificate();
const credentials = { certPem: victim.certPem, keyPem: own.keyPem };
const ep = await openDtlsEndpoint({
  host: '127.0.0.1',
  port: 0,
  credentials,
  onSession: () => {},
  onReject: () => {},
});
const result: { handshake: boolean; reply?: string } = { handshake: false };
try {
  const s = await ep.connect({ address: '127.0.0.1', port: Number(port) });
  result.handshake = true;
  const exporter = s.exporter(EXPORTER_LABEL, 32);
  const { X509Certificate } = await import('node:crypto');
  const der = new Uint8Array(new X509Certificate(victim.certPem).raw);
  const closed = new Promise<string>((resolve) => {
    s.onData((b) => {
      const m = decodeLink(b);
      if (m.ok && m.message.type === 'close') resolve(`close: ${m.message.reason}`);
    });
    s.onClose(() => resolve('session closed'));
    setTimeout(() => resolve('no answer'), 5000);
  });
  s.send(
    encodeLink({
      type: 'bind',
      body: {
        v: LINK_VERSION,
        name: 'bee',
        ensemble: 'default',
        sig: signBinding(own.keyPem, s.role, exporter, der, s.peerCertDer),
      },
    }),
  );
  result.reply = await closed;
} catch (err) {
  result.reply = (err as Error).message;
}
process.stdout.write(`${JSON.stringify(result)}\n`);
await ep.close();

import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { ConfigInput } from '../config/schema.ts';
import { startDaemon } from '../daemon.ts';
import { ensureHome, resolveHome } from '../home.ts';
import { createLogger } from '../log.ts';
import { type Parsed, portFlag } from './args.ts';
import type { Out } from './client-call.ts';

/** Runs the daemon in the foreground until SIGINT/SIGTERM. Resolves with the exit code. */
export async function startCommand(args: Parsed, out: Out): Promise<number> {
  const home = resolveHome(args.flags.home as string | undefined);
  const oscPort = portFlag(args.flags['osc-port'], 'osc-port');
  const peerPort = portFlag(args.flags['peer-port'], 'peer-port');
  const bind = args.flags['osc-bind'] as string | undefined;
  const name = args.flags.name as string | undefined;

  const homeOk = await ensureHome(home);
  if (!homeOk.ok) {
    out.stderr(`hana: ${homeOk.error}.\n`);
    return 1;
  }
  const homeConfig = join(home, 'config.json');
  const file = (args.flags.config as string | undefined) ?? (existsSync(homeConfig) ? homeConfig : undefined);
  const flags = (withBind: boolean) => (input: ConfigInput) => ({
    ...input,
    ...(name !== undefined && { name }),
    osc: {
      ...input.osc,
      ...(oscPort !== undefined && { port: oscPort }),
      ...(withBind && bind !== undefined && { bind }),
    },
    peers: { ...input.peers, ...(peerPort !== undefined && { port: peerPort }) },
    ...(args.flags['ableton-link'] === true && { abletonLink: { ...input.abletonLink, enabled: true } }),
  });
  const loaded = await loadConfig(file, flags(true));
  if (!loaded.ok) {
    // An open --osc-bind needs osc.allow, which no flag sets: say so, rather than blame the
    // embedded defaults the user never wrote.
    const without = bind === undefined ? undefined : await loadConfig(file, flags(false));
    if (without?.ok && without.config.osc.allow.length === 0) {
      out.stderr(
        `hana: --osc-bind ${bind} opens OSC to the network, and only osc.allow in a config file says who may send: put {"osc": {"allow": ["192.168.1.0/24"]}} (your network) in ${file ?? homeConfig} and start again; nothing was started.\n`,
      );
      return 1;
    }
    out.stderr(`hana: ${loaded.error}\nhana: fix the config and start again; nothing was started.\n`);
    return 1;
  }
  const config = loaded.config;
  const secretFileMode =
    config.peers.ensemble.secret !== undefined && file ? (await stat(file)).mode & 0o077 : 0;
  const log = createLogger({
    level: (args.flags['log-level'] as string | undefined) ?? config.log.level,
    pretty: args.flags['log-json'] ? false : undefined,
  });

  if (secretFileMode !== 0) {
    log.warn(
      { event: 'config.secret-readable', security: true, file },
      `${file} holds the ensemble secret and other users may read it: run \`chmod 600 ${file}\``,
    );
  }
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({ home, config, configSource: loaded.source, log });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const where = e.port !== undefined ? `${e.address ?? ''}:${e.port}` : '';
    const hint =
      e.code === 'EADDRINUSE'
        ? `${where} is in use (another hana or program): choose other ports with --osc-port / --peer-port (0 = any free port)`
        : e.code === 'EADDRNOTAVAIL'
          ? `${where} is not an address of this machine: check osc.bind / peers.bind`
          : e.message;
    log.fatal({ event: 'daemon.start-failed', err: e }, hint);
    out.stderr(`hana: could not start: ${hint}\n`);
    return 1;
  }

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ event: 'daemon.forced-exit', signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ event: 'daemon.stopping', signal }, `received ${signal}, shutting down`);
      // werift's handshake retransmissions sleep on timers nobody can cancel; once everything
      // of ours is closed they would hold the process up to ~30 s, so exit shortly after.
      const done = (code: number) => {
        setTimeout(() => process.exit(code), 250).unref();
        resolve(code);
      };
      daemon.stop().then(
        () => done(0),
        (err) => {
          log.error({ err }, 'error during shutdown');
          done(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

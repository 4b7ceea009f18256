import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { startDaemon } from '../daemon.ts';
import { ensureHome, resolveHome } from '../home.ts';
import { createLogger } from '../log.ts';
import { type Parsed, portFlag } from './args.ts';

export const START_FLAGS = {
  home: 'string',
  config: 'string',
  'osc-port': 'string',
  'osc-bind': 'string',
  name: 'string',
  'log-level': 'string',
  'log-json': 'boolean',
} as const;

/** Runs the daemon in the foreground until SIGINT/SIGTERM. Resolves with the exit code. */
export async function startCommand(args: Parsed): Promise<number> {
  const home = resolveHome(args.flags.home as string | undefined);
  const oscPort = portFlag(args.flags['osc-port'], 'osc-port');
  const bind = args.flags['osc-bind'] as string | undefined;
  const name = args.flags.name as string | undefined;

  const homeOk = await ensureHome(home);
  if (!homeOk.ok) {
    process.stderr.write(`hana: ${homeOk.error}\n`);
    return 1;
  }
  const homeConfig = join(home, 'config.json');
  const file = (args.flags.config as string | undefined) ?? (existsSync(homeConfig) ? homeConfig : undefined);
  const loaded = await loadConfig(file, (input) => ({
    ...input,
    ...(name !== undefined && { name }),
    osc: {
      ...input.osc,
      ...(oscPort !== undefined && { port: oscPort }),
      ...(bind !== undefined && { bind }),
    },
  }));
  if (!loaded.ok) {
    process.stderr.write(
      `hana: ${loaded.error}\nhana: fix the config and start again; nothing was started.\n`,
    );
    return 1;
  }
  const config = loaded.config;
  const log = createLogger({
    level: (args.flags['log-level'] as string | undefined) ?? config.log.level,
    pretty: args.flags['log-json'] ? false : undefined,
  });

  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({ home, config, configSource: loaded.source, log });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint =
      e.code === 'EADDRINUSE'
        ? `port ${config.osc.port} is in use: pass --osc-port N (or 0 for any free port)`
        : e.code === 'EADDRNOTAVAIL'
          ? `${config.osc.bind} is not an address of this machine: check --osc-bind / osc.bind`
          : e.message;
    log.fatal({ event: 'daemon.start-failed', err: e }, hint);
    process.stderr.write(`hana: could not start: ${hint}\n`);
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
      daemon.stop().then(
        () => resolve(0),
        (err) => {
          log.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

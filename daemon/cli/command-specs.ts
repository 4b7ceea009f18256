// What each command accepts (its flags) and its usage lines, apart from the code that runs it.
// `hana` reads this table on every run, so it imports nothing: a command's module (and whatever
// of the daemon it needs) loads only when that command runs (main.ts), which keeps `hana status`,
// `get` and `set` from paying for the daemon's modules (docs/cli.md, `npm run bench -- cli`).

export const START_FLAGS = {
  home: 'string',
  config: 'string',
  'osc-port': 'string',
  'osc-bind': 'string',
  'peer-port': 'string',
  name: 'string',
  'log-level': 'string',
  'log-json': 'boolean',
  'ableton-link': 'boolean',
} as const;

export const CLIENT_FLAGS = { home: 'string', json: 'boolean' } as const;

export const LINK_FLAGS = { home: 'string', json: 'boolean', role: 'string', name: 'string' } as const;

export const PAIR_FLAGS = {
  home: 'string',
  json: 'boolean',
  role: 'string',
  expires: 'string',
  peer: 'string',
} as const;

export const PAIR_USAGE = `  pair [--role performer|observer] [--expires 5m] [--json]
                                             show a code to read out to the other laptop's operator
  pair <code> [--peer HOST:PORT] [--json]    pair with the laptop showing that code`;

export const MIDI_FLAGS = { home: 'string', json: 'boolean', timeout: 'string' } as const;

export const OUTPUT_FLAGS = { home: 'string', json: 'boolean', 'new-token': 'boolean' } as const;

export const UI_FLAGS = { home: 'string', json: 'boolean', 'new-token': 'boolean' } as const;

export const UI_USAGE = `  ui [--json] [--new-token]                  the operator console's URL (with its token): open it in a browser;
                                             --new-token replaces the token (open consoles are cut off)`;

export const ABLETON_LINK_FLAGS = { home: 'string', json: 'boolean' } as const;

export const ABLETON_LINK_USAGE = `  ableton-link status [--json]               the Link session: peers, tempo, beat, phase, start/stop
  ableton-link play | ableton-link stop      start or stop every app in the Link session`;

export const PLUGIN_FLAGS = {
  home: 'string',
  json: 'boolean',
  out: 'string',
  key: 'string',
  pubkey: 'string',
  force: 'boolean',
  'passphrase-file': 'string',
} as const;

export const PLUGIN_USAGE = `  plugin keygen [--out DIR] [--passphrase-file FILE] [--force]
                                             make a publisher key (passphrase: asked, or HANA_PUBLISHER_PASSPHRASE)
  plugin sign <dir> [--key FILE] [--passphrase-file FILE]
                                             sign a plugin folder (writes plugin.sig)
  plugin verify <dir|archive> [--pubkey KEY] [--json]
                                             check a plugin's signature against trusted publishers (and KEY)
  plugin pack <dir> [--out FILE]             make a .hana-plugin archive of a signed folder
  plugin audit <dir|archive> [--json]        what a plugin declares and what its code tries, before install
  plugin install <archive|dir> [--force]     verify and install (--force: replace the same version)
  plugin list [--json]                       installed plugins, each re-verified
  plugin remove|enable|disable <id>          uninstall, allow (clears quarantine), or stop a plugin`;

export const PUBLISHER_FLAGS = {
  home: 'string',
  json: 'boolean',
  name: 'string',
  reason: 'string',
  force: 'boolean',
} as const;

export const PUBLISHER_USAGE = `  publisher trust <public-key|publisher.pub> [--name NAME] [--force]
                                             run plugins signed by this key
  publisher list [--json]                    trusted and revoked plugin publishers
  publisher revoke <key-id|public-key> [--reason TEXT]
                                             stop running its plugins, for good`;

export const SCENE_FLAGS = {
  home: 'string',
  json: 'boolean',
  only: 'string',
  force: 'boolean',
  fade: 'string',
  at: 'string',
} as const;

export const SCENE_USAGE = `  scene save <name> [--only PATTERN] [--force]  save current values (sealed) as a scene
  scene load <name> [--fade 2s|4b] [--at bar|beat|now]
                                             apply a scene (replicates to peers); --at bar|beat
                                             starts it on the shared beat on every laptop, and
                                             --fade glides floats and colours over seconds or beats
  scene status [--json]                      launches waiting for their beat or fading
  scene list [--json] | scene delete <name>  saved scenes`;

export const AUDIT_FLAGS = {
  home: 'string',
  json: 'boolean',
  since: 'string',
  path: 'string',
  writer: 'string',
  limit: 'string',
  verify: 'boolean',
} as const;

export const AUDIT_USAGE = `  audit [--json] [--since 10m|2h|ISO] [--path PATTERN] [--writer PREFIX] [--limit N]
                                             who changed what (peers, operator, scenes)
  audit --verify [--json]                    check that no record was deleted, edited, reordered or cut off`;

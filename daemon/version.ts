// The release, on its own so that `hana --version` and the status line read it without loading
// the daemon (daemon.ts costs about a second to import).
export const VERSION = '0.1.0';

// Every reason the daemon gives for refusing outside input, in one table: the code a counter and
// a log line carry, whether it is a security event (logged on the security logger) or plain bad
// input, and what it means to an operator. `reject()` accepts only these codes, the security
// routing reads `security` from here, and docs/reasons.md is generated from it
// (`npm run docs:reasons`; a test fails when the page is stale).
//
// Codes are grouped by channel: each channel is one rejection counter with its own log event,
// and codes are unique within a channel (the same word may mean different things on two).

export type ReasonEntry = { readonly code: string; readonly security: boolean; readonly doc: string };

const sec = <const C extends string>(code: C, doc: string) => ({ code, security: true, doc }) as const;
const bad = <const C extends string>(code: C, doc: string) => ({ code, security: false, doc }) as const;

const OSC = [
  sec(
    'not-allowed',
    'OSC from a source outside loopback and `osc.allow` (a UDP packet or a TCP connection).',
  ),
  sec(
    'flood',
    'A source over its token bucket (`osc.rateLimit`, in work units); its packets are dropped until it slows down.',
  ),
  sec(
    'too-costly',
    'A packet that would set more parameters at once than `osc.rateLimit.burst` (a fan-out pattern or bundle).',
  ),
  sec(
    'overload',
    'OSC work dropped because `osc.fairness.maxQueuedUnits` were waiting; the source with the most waiting loses its newest.',
  ),
  sec(
    'too-many-connections',
    'An OSC TCP client refused: `osc.maxTcpConnections` in all, and none could be freed from a source holding more.',
  ),
  bad(
    'tcp-evicted',
    'An OSC TCP connection closed to make room: its source was at `osc.maxTcpConnectionsPerSource`, or held the most when all were taken, and this one was its least recently active.',
  ),
  bad('tcp-idle', 'An OSC TCP connection that sent nothing for `osc.tcpIdleSeconds`.'),
  sec('tcp-stalled', 'An OSC TCP connection that left a frame half-sent for `osc.tcpStallSeconds`.'),
  sec(
    'http-request',
    'An HTTP request on the OSC TCP port (a web page trying to post OSC); the connection is closed.',
  ),
  bad(
    'oversize',
    'A packet, SLIP frame or length prefix over `osc.maxPacketBytes` (a length-prefixed TCP stream is then closed).',
  ),
  bad(
    'truncated',
    'A packet cut short: length not a multiple of 4, an argument or size missing, a blob past the end.',
  ),
  bad('unterminated-string', 'A string (address, type tags, argument) with no NUL inside the packet.'),
  bad('bad-type-tag', 'Type tags missing, not starting with `,`, unknown, or unbalanced/nested arrays.'),
  bad('bad-bundle-size', 'A bundle element whose size is ≤ 0, not a multiple of 4, or past the end.'),
  bad('bad-address', 'A packet starting with neither `/` nor `#bundle`.'),
  bad('trailing-bytes', "Bytes left after a message's last argument."),
  bad('too-deep', 'Bundles nested deeper than `osc.maxBundleDepth`.'),
  bad('bad-escape', 'TCP: a SLIP escape byte followed by anything but ESC_END/ESC_ESC.'),
  bad('empty-frame', 'TCP: a length prefix of 0 (OSC 1.0 framing); the connection is closed.'),
  bad('bad-pattern', 'An OSC address pattern that does not parse.'),
  bad('unknown-address', 'No declared parameter matches the address (or a `/hana/…` control that is off).'),
  bad('wrong-type', 'A value of a type the parameter cannot take (docs/osc.md, types and coercion).'),
  bad('wrong-arity', 'Too many or too few arguments for the parameter.'),
  bad('not-finite', 'NaN or ±∞ for a number.'),
  bad(
    'out-of-range',
    'A value outside `[min, max]` of a parameter with `outOfRange: "reject"`, a string over `maxLength` or not among its `values` (`/layer/N/blend`, `/layer/N/deck`), or a bad `/hana/subscribe` port.',
  ),
  bad('too-far-ahead', 'A bundle time-tagged further ahead than `osc.maxScheduleAheadMs`.'),
  bad('schedule-full', '`osc.maxScheduled` bundles already wait for their time tag.'),
  bad('subscribe-full', 'More than `osc.feedback.maxSubscribers` feedback subscriptions.'),
  bad('scene-bad-request', '`/hana/scene/load` with other than 1–3 string arguments (name, fade, at).'),
  bad(
    'scene-bad-fade',
    '`/hana/scene/load` with a fade that is not seconds (`2s`, `500ms`), beats (`4b`) or `0`.',
  ),
  bad('scene-bad-at', '`/hana/scene/load` with a launch point other than `bar`, `beat` or `now`.'),
  bad(
    'scene-unknown',
    '`/hana/scene/load` of a scene that does not exist or cannot be read (`hana scene list` says why).',
  ),
  bad(
    'scene-no-beat',
    '`/hana/scene/load` on a bar or beat, or with a fade in beats, before any tempo was set (no shared beat).',
  ),
  bad('scene-busy', '`/hana/scene/load` while the previous OSC scene load is still being read.'),
] as const;

// A MIDI device is plugged into this laptop: nothing it sends is an attack from the network.
const MIDI = [
  bad('midi-orphan-data', 'MIDI: a data byte with no status to apply it to (no running status).'),
  bad('midi-truncated', 'MIDI: a message cut short by a new status byte.'),
  bad('midi-sysex-unterminated', 'MIDI: a SysEx cut by a status byte other than F7.'),
  bad('midi-sysex-oversize', 'MIDI: a SysEx longer than the parser keeps; the rest is discarded.'),
  bad('midi-undefined-status', 'MIDI: a status byte MIDI 1.0 leaves undefined (F4, F5, F9, FD).'),
  bad('midi-orphan-eox', 'MIDI: an end-of-SysEx byte with no SysEx in progress.'),
  bad('midi-flood', 'MIDI: a device sending more than `midi.eventsPerSecond` events per second.'),
  bad('midi-wrong-type', "MIDI: a mapped value the parameter's type cannot take."),
  bad('midi-wrong-arity', 'MIDI: a mapped value with the wrong number of arguments for the parameter.'),
  bad('midi-out-of-range', "MIDI: a mapped value outside a rejecting parameter's range."),
  bad('midi-not-finite', 'MIDI: a mapped value that is NaN or ±∞.'),
  // Clock in (midi.clock.in): the same local device, so not security events either; a refused
  // tick or tempo leaves hana's beat as it was.
  bad(
    'midi-clock-flood',
    'MIDI clock in: clock bytes faster than `midi.clock.maxTicksPerSecond`; the excess is dropped.',
  ),
  bad(
    'midi-clock-outlier',
    'MIDI clock in: a tick interval far from the others (a late or bunched tick), left out of the tempo.',
  ),
  bad('midi-clock-tempo', 'MIDI clock in: a clock whose tempo is outside 20–999 bpm; hana keeps its tempo.'),
] as const;

// The DTLS port (protocols/dtls/endpoint.ts); docs/security.md, abuse limits, has the numbers.
const PEER = [
  sec('peer-banned', 'Peer port: a ClientHello from an address banned for repeated violations.'),
  sec('peer-oversize', 'Peer port: a datagram over 2048 bytes.'),
  sec('peer-malformed', 'Peer port: DTLS record framing that does not parse.'),
  bad(
    'peer-not-client-hello',
    'Peer port: a record from an address with no session (usually a peer still talking to a session lost in a restart).',
  ),
  sec(
    'peer-handshake-flood',
    'Peer port: more new handshakes per second from one address than `peers.handshakesPerSecond`.',
  ),
  sec('peer-half-open-full', 'Peer port: too many handshakes in progress, from one address or in all.'),
  sec('peer-session-limit', 'Peer port: `peers.maxPeers` sessions are open already.'),
  bad('peer-handshake-timeout', 'Peer port: a handshake that did not complete within 10 s.'),
  sec('peer-no-certificate', 'Peer port: a handshake completed without a certificate.'),
  sec(
    'peer-handshake-verify-failed',
    'Peer port: a handshake whose signatures, master secret or Finished do not verify (docs/security.md).',
  ),
  sec('peer-fragment-flood', 'Peer port: a handshake over 64 records or 16 KiB of fragments.'),
  sec(
    'peer-plaintext-on-session',
    'Peer port: a plaintext record other than a ClientHello on an open session.',
  ),
  sec('peer-alert-ignored', 'Peer port: a DTLS alert (never acted on; a peer says goodbye inside the link).'),
  sec('peer-replay', 'Peer port: application data already received or older than the replay window.'),
  sec(
    'peer-bad-record',
    'Peer port: a record that authenticates for no session, or of a wrong epoch or type.',
  ),
] as const;

// Sync from trusted peers (daemon/sync/, docs/sync.md). Security events, except where another
// laptop's honest config differs from this one's (a path or an origin this laptop does not know),
// which happens on every stage where one laptop declares more parameters or has paired later.
const SYNC = [
  sec('sync-observer-write', 'Sync: a write by a peer pinned as an observer (it is corrected back).'),
  sec('sync-out-of-scope', "Sync: a write outside the writer's allowed paths (it is corrected back)."),
  sec('sync-future-stamp', 'Sync: a write stamped too far ahead of this clock.'),
  sec('sync-malformed', 'Sync: a sync message that does not decode.'),
  bad(
    'sync-invalid-value',
    "Sync: a value this laptop's parameter declaration refuses (the laptops' configs differ).",
  ),
  bad(
    'sync-unknown-path',
    'Sync: a path not declared here; kept aside (`sync.maxUnknownPaths`), not applied.',
  ),
  bad(
    'sync-unknown-path-dropped',
    'Sync: a path not declared here, dropped because the table of unknown paths is full.',
  ),
  sec('sync-bad-signature', "Sync: a write whose signature does not verify with its origin's pinned key."),
  bad(
    'sync-unknown-origin',
    'Sync: a signed write from an origin not pinned here; held aside until the operator pairs or allows it.',
  ),
  bad(
    'sync-unknown-origin-dropped',
    'Sync: a write from an unknown origin, dropped because the writes held aside are at their limit.',
  ),
  sec('sync-equivocation', 'Sync: two different values signed under one stamp by the same origin.'),
  sec('sync-v1-refused', 'Sync: an unsigned (version 1) sync message; both laptops need this hana release.'),
  sec('sync-origin-blocked', 'Sync: a write whose origin is blocked here.'),
  sec('sync-rate-limited', "Sync: a trusted peer over its link's update budget."),
] as const;

// Plugin writes go through the same validated path as OSC (daemon/plugins/writes.ts).
const PLUGIN = [
  sec(
    'plugin-refused',
    'Plugins: an enabled plugin whose files fail verification at load (signature, publisher, manifest); not loaded.',
  ),
  sec(
    'plugin-unknown-writer',
    'Plugins: writes from a plugin that is not loaded (recorded in the plugin fault log).',
  ),
  sec(
    'plugin-undeclared-write',
    "Plugins: a write to a path outside the manifest's `writes` (recorded in the plugin fault log).",
  ),
  bad('plugin-unknown-address', 'Plugins: a write to a path that is not a declared parameter.'),
  bad(
    'plugin-master-write',
    'Plugins: a write to `/master/opacity` or `/master/blackout`, which only people (and linked peers) set: no plugin can undo a blackout.',
  ),
  bad('plugin-wrong-type', "Plugins: a value the parameter's type cannot take."),
  bad('plugin-wrong-arity', 'Plugins: a value with the wrong number of arguments for the parameter.'),
  bad('plugin-out-of-range', "Plugins: a value outside a rejecting parameter's range."),
  bad('plugin-not-finite', 'Plugins: a value that is NaN or ±∞.'),
] as const;

// Everything but a plain 404 is someone else trying the page (a wrong Host, token or Origin).
const OUTPUT = [
  sec('output-bad-host', 'Output page: a Host header other than the loopback address and port it serves.'),
  sec('output-bad-token', 'Output page: a missing or wrong per-start token.'),
  sec('output-bad-origin', 'Output page: a WebSocket from another Origin.'),
  sec('output-bad-method', 'Output page: a method other than GET or HEAD.'),
  sec('output-bad-request', 'Output page: an unparsable URL or a refused WebSocket handshake.'),
  sec('output-too-many-clients', 'Output page: `output.maxClients` pages are connected already.'),
  bad('output-not-found', 'Output page: a request for an unknown path.'),
  sec(
    'output-request-timeout',
    'Output page: a connection that did not send a whole request in time (half-sent or silent); closed.',
  ),
] as const;

// The operator console (daemon/console/): the same guard as the output page, and the messages
// its WebSocket takes. The page never sends a wrong shape, an unknown method or an oversize
// message, so those are someone else talking to the socket.
const CONSOLE = [
  sec('console-bad-host', 'Console: a Host header other than the loopback address and port it serves.'),
  sec('console-bad-token', 'Console: a missing or wrong token (the one `hana ui` prints).'),
  sec(
    'console-referer-token',
    'Console: a request carrying the token only in its Referer; a token is taken from the URL and nowhere else.',
  ),
  sec('console-bad-origin', 'Console: a WebSocket from another Origin, or none.'),
  sec('console-bad-method', 'Console: an HTTP method other than GET or HEAD.'),
  sec('console-bad-request', 'Console: an unparsable URL or a refused WebSocket handshake.'),
  sec('console-too-many-clients', 'Console: `console.maxClients` pages are connected already.'),
  bad('console-not-found', 'Console: a request for an unknown path.'),
  sec(
    'console-request-timeout',
    'Console: a connection that did not send a whole request in time (half-sent or silent); closed.',
  ),
  sec('console-oversize', 'Console: a WebSocket message over 64 KiB; the socket is closed (1009).'),
  sec(
    'console-bad-message',
    'Console: a WebSocket message that is not JSON of the shape `{id, method, params}`; answered `bad-message`.',
  ),
  sec(
    'console-unknown-method',
    'Console: a method the console does not offer (it offers a fixed list, not the whole control socket); answered `unknown-method`.',
  ),
] as const;

// The OSCQuery server (daemon/oscquery/): its HTTP namespace and WebSocket. OSC packets sent
// over its WebSocket are input like UDP's and are counted on the input channel.
const OSCQUERY = [
  sec(
    'oscquery-not-allowed',
    'OSCQuery: a connection from outside loopback and `osc.allow`; closed at once.',
  ),
  sec(
    'oscquery-bad-request',
    'OSCQuery: a request that does not parse as HTTP, or a refused WebSocket handshake.',
  ),
  sec(
    'oscquery-request-timeout',
    'OSCQuery: a connection that did not send a whole request in time (half-sent or silent); closed.',
  ),
  bad('oscquery-bad-method', 'OSCQuery: a method other than GET or HEAD (405).'),
  bad('oscquery-not-found', 'OSCQuery: a request or a LISTEN for a path that is not in the namespace (404).'),
  bad(
    'oscquery-bad-attribute',
    'OSCQuery: a query for an attribute hana does not serve, or more than one at once (400).',
  ),
  sec(
    'oscquery-bad-host',
    'OSCQuery: an HTTP request whose Host is not this server (a DNS-rebinding page reading values); 421.',
  ),
  sec(
    'oscquery-bad-origin',
    'OSCQuery: a WebSocket from a web page (an Origin that is not this server): a page could otherwise set parameters.',
  ),
  sec('oscquery-too-many-clients', 'OSCQuery: `oscquery.maxClients` WebSockets are connected already.'),
  sec(
    'oscquery-oversize',
    'OSCQuery: a WebSocket message over `osc.maxPacketBytes` (binary) or 4 KiB (text); the socket is closed (1009).',
  ),
  sec(
    'oscquery-flood',
    'OSCQuery: a WebSocket sending commands faster than `oscquery.commandsPerSecond`; the socket is closed (1008).',
  ),
  sec(
    'oscquery-too-many-listens',
    'OSCQuery: a LISTEN beyond `oscquery.maxListensPerClient` paths on one WebSocket; refused.',
  ),
  bad(
    'oscquery-bad-command',
    'OSCQuery: a WebSocket text message that is not a LISTEN or IGNORE of one path.',
  ),
] as const;

// A link that completed its handshake but is refused before any state flows
// (daemon/link/manager.ts, trust-store/policy.ts); each is also the reason the link closes.
const LINK = [
  sec('binding-failed', "The peer's channel binding does not verify with the key of its certificate."),
  sec('bad-name', 'The display name in its bind cannot be stored (too long, control characters).'),
  sec('wrong-ensemble', 'The peer is in another ensemble (`peers.ensemble.name`).'),
  sec(
    'ensemble-secret',
    'The peer did not prove the ensemble secret (`peers.ensemble.secret` differs) in time.',
  ),
  sec('own-id', "The peer presented this daemon's own device ID."),
  sec('blocked', 'The device is blocked here (`hana trust block`).'),
  sec('pending', 'The device is pinned but pending: waiting for `hana trust allow` or a pairing code.'),
  sec('unknown-strict', '`peers.policy` is strict and the device is not pinned.'),
  sec('key-change', 'A new key under a pinned name; held for the operator (`hana trust list`).'),
  sec('link-version', 'The peer speaks another link version: run the same hana release on both.'),
  sec('bind-timeout', 'The peer did not bind within 5 s of its handshake.'),
] as const;

// Every refused rotation is a violation of its session as well (daemon/link/rotation.ts).
const ROTATION = [
  sec(
    'not-trusted',
    'A rotation announced over a link that is not trusted, or for a pin gone or no longer trusted.',
  ),
  sec('bad-signature', 'A rotation not signed by the key this session bound.'),
  sec('not-a-certificate', 'The vouched-for bytes are not a certificate.'),
  sec('own-id', "The next certificate is this daemon's own."),
  sec('pinned-id', 'The next ID is pinned already, in any state.'),
  sec('held-id', 'The next ID is in a key change held for the operator.'),
  sec(
    'conflict',
    'The peer store changed between the verdict and the write (a second rotation, the operator). The same rotation moved meanwhile by its other delivery is acked, not refused.',
  ),
] as const;

const INTRODUCTION = [
  sec('disabled', '`peers.introductions` is off here.'),
  sec('not-trusted-introducer', 'The introducer is not trusted here.'),
  sec(
    'bad-signature',
    "The introduced certificate is not signed by the introducer's pinned key for this daemon.",
  ),
  sec('own-id', "The introduced ID is this daemon's own."),
  sec('blocked', 'The introduced device is blocked here.'),
  sec('name-held', 'A new ID under a name another pin holds: held like a key change.'),
  sec('store-full', 'The peer store cannot take another pin.'),
] as const;

// Anyone on the LAN can announce anything; an announcement is only a hint to dial (docs/security.md).
const MDNS = [
  sec('bad-instance', 'mDNS: an instance name that is not one DNS label without control characters.'),
  sec('bad-port', 'mDNS: a port outside 1–65535.'),
  sec('no-txt', 'mDNS: an announcement without the TXT record.'),
  sec('bad-version', 'mDNS: a protocol version that is not a positive integer.'),
  sec('bad-id', 'mDNS: an `id` that is not a well-formed device ID.'),
  sec('bad-ensemble', 'mDNS: an ensemble tag that is not printable ASCII.'),
  sec('bad-address', 'mDNS: A/AAAA records that are not a short list of unicast addresses.'),
  sec('no-address', 'mDNS: a packet whose source is not a unicast IPv4 address we could dial.'),
  sec('undecodable', 'mDNS: a packet that is not DNS at all.'),
] as const;

// Ableton Link is plaintext and unauthenticated by design: any host on the LAN can send to its
// multicast group. Its datagrams are local input, checked and rate-limited (docs/security.md).
const ABLETON_LINK = [
  sec('flood', 'Link: a source over `abletonLink.datagramsPerSecond` / `burst`; its datagrams are dropped.'),
  sec(
    'oversize',
    'Link: a datagram over 512 bytes, or a ping whose echo would make our pong larger than it.',
  ),
  sec('truncated', 'Link: a datagram shorter than its header, or an entry that runs past its end.'),
  sec('bad-magic', 'Link: a datagram that is not `_asdp_v`/`_link_v` version 1.'),
  sec('bad-type', 'Link: a message type version 1 does not define.'),
  sec('bad-group', 'Link: a session group other than 0.'),
  sec('bad-entry-size', 'Link: a timeline, session, start/stop, endpoint or time entry of the wrong size.'),
  sec('duplicate-entry', 'Link: the same entry twice in one message.'),
  sec(
    'missing-entry',
    'Link: an announcement without timeline or session, a ping without host time, a pong without session or ghost time.',
  ),
  sec('bad-tempo', 'Link: a tempo outside 20–999 bpm.'),
  sec('bad-number', 'Link: a time or beat beyond ±2^53 µs, or a start/stop flag other than 0 or 1.'),
  sec('bad-endpoint', 'Link: a measurement endpoint 0.0.0.0 or port 0.'),
  sec('too-many-peers', 'Link: an announcement from a new peer while `abletonLink.maxPeers` are known.'),
] as const;

// Faults of plugin code in the sandbox and the plugin host (plugins/sandbox/, plugins/runtime/):
// the `code` of each plugin runtime event. docs/plugins.md, "fault codes", says for each what
// the host did and what the operator does (a test keeps that table and this list the same).
const PLUGIN_FAULT = [
  bad(
    'overrun',
    'A frame used more CPU than its `cpuMsPerFrame`, on its isolate’s own clock; the frame is lost.',
  ),
  bad(
    'starved',
    'A call stopped by the wall clock having had less CPU than its budget (a loaded machine); not counted as a fault.',
  ),
  bad('exception', 'A frame threw or left a promise rejection unhandled; the frame is lost.'),
  bad('invalid-output', 'A display list or answer that fails a check or a cap; the frame is lost.'),
  bad(
    'memory',
    'The isolate went over `memoryMb`, or was stopped at its limit; it is disposed and restarted.',
  ),
  sec('escape', 'The isolate used CPU while none of its calls ran; it is disposed and restarted.'),
  sec('hung', 'A call that did not stop at its time limit; the isolate is disposed and restarted.'),
  sec('undeclared-write', "A `hana.set` outside the manifest's `writes`; the write is refused."),
  bad('load-failed', 'The bundle did not compile, run or set up; retried like a restart.'),
  bad('restart', 'Too many faulty frames within the fault window, or a lost isolate: a fresh isolate.'),
  sec('quarantine', 'A plugin stopped until the operator re-enables it (restarts, crashes, or bisection).'),
  bad('cpu-share', "A plugin slowed to its fair share of the plugins' CPU budget."),
  bad('over-share', 'A layer over its fair share of the composed frame, left out of some frames.'),
  bad('host-signal', 'The plugin host ended by a signal (a V8 fatal error, a segfault, the OOM killer).'),
  bad('host-exit', 'The plugin host exited with no plugin named.'),
  bad('host-catastrophic', 'The plugin host ended on a catastrophic isolate error naming a plugin.'),
  bad('host-hung', 'The plugin host sent nothing for 5 s and was killed.'),
  bad('host-not-ready', 'A new plugin host did not say ready in time and was killed.'),
  bad('host-rss', 'The plugin host went over its resident memory ceiling and was killed.'),
  bad('bisect-step', 'A step of the search for the plugin behind a crash that named none.'),
  bad('bisect-found', 'The search found the plugin running at every crash; it is quarantined.'),
  bad('bisect-clear', 'The search ended blaming nobody (the crash did not come back).'),
  bad('bisect-abandoned', 'The search ended because the plugin list changed.'),
] as const;

/** The input channel by where the input came from, for per-source totals in `hana status`. */
export const INPUT_FAMILIES = { osc: OSC, midi: MIDI, peer: PEER, sync: SYNC, plugin: PLUGIN } as const;

/** How many of `counts` (a channel's counts by reason) belong to one input family. */
export function familyTotal(
  counts: Partial<Record<string, number>>,
  family: keyof typeof INPUT_FAMILIES,
): number {
  return INPUT_FAMILIES[family].reduce((n, r) => n + (counts[r.code] ?? 0), 0);
}

export type ChannelSpec = {
  readonly event: string;
  readonly title: string;
  /** Where an operator sees the counts. */
  readonly counted: string;
  readonly reasons: readonly ReasonEntry[];
};

export const CHANNELS = {
  input: {
    event: 'input.rejected',
    title: 'Input: OSC, MIDI, the peer port, sync and plugins',
    counted: '`hana status`: `rejected` and one line per reason (`--json`: `rejected`)',
    reasons: [...OSC, ...MIDI, ...PEER, ...SYNC, ...PLUGIN],
  },
  output: {
    event: 'output.rejected',
    title: 'The output page',
    counted: '`hana output` (`--json`: `rejected`)',
    reasons: OUTPUT,
  },
  console: {
    event: 'console.rejected',
    title: 'The operator console',
    counted: '`hana status` (`--json`: `console.rejected`), and live in the console itself',
    reasons: CONSOLE,
  },
  oscquery: {
    event: 'oscquery.rejected',
    title: 'The OSCQuery server',
    counted: '`hana status`: `oscquery … refused` (`--json`: `oscquery.rejected`)',
    reasons: OSCQUERY,
  },
  link: {
    event: 'peer.refused',
    title: 'Links refused after the handshake',
    counted: '`hana status`: `peers … refused` and `refusals` (`--json`: `peers.refusals`)',
    reasons: LINK,
  },
  rotation: {
    event: 'peer.rotation-refused',
    title: 'Identity rotations refused',
    counted: '`hana status`: `refusals` (`--json`: `peers.rotationRefusals`)',
    reasons: ROTATION,
  },
  introduction: {
    event: 'peer.introduction-refused',
    title: 'Introductions refused',
    counted: '`hana status`: `refusals` (`--json`: `peers.introductions.refused`)',
    reasons: INTRODUCTION,
  },
  mdns: {
    event: 'mdns.rejected',
    title: 'mDNS announcements ignored',
    counted: '`hana status`: `mdns … announcements ignored` (`--json`: `mdns.rejected`)',
    reasons: MDNS,
  },
  abletonLink: {
    event: 'ableton-link.rejected',
    title: 'Ableton Link datagrams refused',
    counted:
      '`hana ableton-link status` by reason (`--json`: `rejected`); `hana status`: `link … datagrams refused`',
    reasons: ABLETON_LINK,
  },
  pluginFault: {
    event: 'plugin.<kind>',
    title: 'Plugin faults (what each means for the show: docs/plugins.md, fault codes)',
    counted:
      '`hana status`, per plugin and for the plugin host (control method `plugin.runtime`: `events` by kind, `lastError` starting with the code)',
    reasons: PLUGIN_FAULT,
  },
} as const satisfies Record<string, ChannelSpec>;

export type Channel = keyof typeof CHANNELS;
/** The codes `reject()` takes on a channel; a free string does not compile. */
export type ReasonCode<C extends Channel = 'input'> = (typeof CHANNELS)[C]['reasons'][number]['code'];

const SECURITY = new Map<Channel, ReadonlySet<string>>(
  Object.entries(CHANNELS).map(([c, spec]) => [
    c as Channel,
    new Set(spec.reasons.filter((r) => r.security).map((r) => r.code)),
  ]),
);

/** Whether `code` is a security event on `channel` (an unknown code is not). */
export function isSecurityReason(channel: Channel, code: string): boolean {
  return SECURITY.get(channel)!.has(code);
}

// Who a packet is charged to. Every app on this machine sends from 127.0.0.1, so keyed by
// address they would share one budget and one runaway app would starve the performer's: on
// loopback each source port is its own source. From the network a sender can pick any port, so
// there the address is the source (a new port buys no new budget).

/** 127.0.0.0/8, ::1, or 127.x as a dual-stack socket reports it (::ffff:127.x). */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

export function sourceKey(from: { readonly address: string; readonly port: number }): string {
  return isLoopback(from.address) ? `${from.address}:${from.port}` : from.address;
}

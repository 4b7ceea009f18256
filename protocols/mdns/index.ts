/**
 * LAN discovery of hana daemons over mDNS (`_hana._udp`, TXT `v`, `id`, `ens`): advertise this
 * daemon and report the others of the same ensemble. What it reports is a dialling hint from
 * unauthenticated network input; the DTLS handshake decides who a peer is.
 */

export {
  type DiscoveredPeer,
  type Discovery,
  type DiscoveryInit,
  MDNS_REJECT_CODES,
  type MdnsRejectCode,
  type MdnsRejection,
  type PeerRejection,
  parsePeer,
  startDiscovery,
} from './discovery.ts';

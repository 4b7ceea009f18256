#!/usr/bin/python3
"""A forger and sniffer of UDP datagrams on loopback, for the record-attack tests (issue 10).

Node's dgram cannot send from an address:port another socket holds, so a test cannot pretend
to be a live peer with it. A raw IP socket (root only) can: it writes the IP and UDP headers
itself, so a datagram carries any source address and port, as an attacker on the LAN could
forge. An AF_PACKET socket on "lo" sees every datagram between two local endpoints, as a
sniffer on the LAN would.

Protocol: one JSON object per line on stdin, one per line on stdout.
  {"id": n, "op": "send", "src": [addr, port], "dst": [addr, port], "hex": "..."}  -> {"id": n, "ok": true}
  {"id": n, "op": "sniff", "src": [addr, port] | null, "dst": [addr, port] | null}  -> {"id": n, "ok": true}
      then {"event": "packet", "src": [addr, port], "dst": [addr, port], "hex": "..."} per datagram seen
  {"id": n, "op": "unsniff"}                                                        -> {"id": n, "ok": true}
It exits when stdin closes. Errors answer {"id": n, "ok": false, "error": "..."}.
"""

import json
import socket
import struct
import sys
import threading

ETH_P_IP = 0x0800
PACKET_HOST = 0
out_lock = threading.Lock()


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def send(src, dst, payload):
    (saddr, sport), (daddr, dport) = src, dst
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(saddr) + socket.inet_aton(daddr) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
        socket.inet_aton(saddr), socket.inet_aton(daddr),
    )
    raw.sendto(ip + udp, (daddr, 0))


sniffer = {"stop": None}


def sniff(s, want_src, want_dst, stop):
    try:
        while not stop.is_set():
            try:
                frame, addr = s.recvfrom(65535)
            except socket.timeout:
                continue
            # Loopback shows each datagram twice (outgoing and host); keep the host copy.
            if addr[2] != PACKET_HOST or len(frame) < 28 or frame[9] != 17:
                continue
            ihl = (frame[0] & 0x0F) * 4
            sport, dport, length = struct.unpack("!HHH", frame[ihl:ihl + 6])
            src = [socket.inet_ntoa(frame[12:16]), sport]
            dst = [socket.inet_ntoa(frame[16:20]), dport]
            if want_src and src != want_src or want_dst and dst != want_dst:
                continue
            emit({"event": "packet", "src": src, "dst": dst, "hex": frame[ihl + 8:ihl + length].hex()})
    finally:
        s.close()


def stop_sniffing():
    if sniffer["stop"] is not None:
        sniffer["stop"].set()
        sniffer["thread"].join()
        sniffer["stop"] = None


for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        if req["op"] == "send":
            send(req["src"], req["dst"], bytes.fromhex(req["hex"]))
        elif req["op"] == "sniff":
            stop_sniffing()
            # Bound before answering, so nothing sent after the answer is missed.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
            s.bind(("lo", 0))
            s.settimeout(0.1)
            stop = threading.Event()
            t = threading.Thread(target=sniff, args=(s, req.get("src"), req.get("dst"), stop), daemon=True)
            sniffer.update(stop=stop, thread=t)
            t.start()
        elif req["op"] == "unsniff":
            stop_sniffing()
        else:
            raise ValueError("unknown op " + str(req["op"]))
        emit({"id": req["id"], "ok": True})
    except Exception as e:  # answer, never die: the test decides what an error means
        emit({"id": req.get("id"), "ok": False, "error": str(e)})
stop_sniffing()

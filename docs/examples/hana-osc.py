#!/usr/bin/python3
"""Talk to hana from Python with liblo (Debian: python3-liblo).

Sets a parameter over UDP and over TCP, subscribes to feedback with plain types and prints what
comes back for a second.

    python3 docs/examples/hana-osc.py 8000
"""
import sys
import time

import liblo

hana_port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000

# Feedback arrives here; a port of our own, chosen by liblo.
server = liblo.Server()
got = []
server.add_method(None, None, lambda path, args: got.append((path, args)))

udp = liblo.Address("127.0.0.1", hana_port)  # OSC 1.0 over UDP
tcp = liblo.Address("127.0.0.1", hana_port, liblo.TCP)  # size-prefixed OSC over TCP

liblo.send(udp, "/hana/subscribe", server.port, "plain")  # bools as 0/1, colours as 4 floats
liblo.send(udp, "/layer/1/opacity", 0.4)
liblo.send(tcp, "/layer/2/hue", 500)  # clamped to 360 by hana

deadline = time.monotonic() + 1.0
while time.monotonic() < deadline:
    server.recv(50)
for path, args in got:
    print(path, *args)
liblo.send(udp, "/hana/unsubscribe", server.port)

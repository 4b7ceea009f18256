# Browses mDNS service types with Debian's python3-zeroconf and prints, as one JSON object, what
# it found of each: {"_oscjson._tcp.local.": {"name": …, "port": …}, …}. Software nobody here
# wrote, to check that hana's announcements are what other apps understand.
# Usage: /usr/bin/python3 zeroconf-browse.py <interface address> <seconds> <type>...
import json
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

address, seconds, types = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
zc = Zeroconf(interfaces=[address])
found = {}


class Listener(ServiceListener):
    def add_service(self, zc, type_, name):
        found.setdefault(type_, name)

    def update_service(self, zc, type_, name):
        found.setdefault(type_, name)

    def remove_service(self, zc, type_, name):
        pass


browsers = [ServiceBrowser(zc, t, Listener()) for t in types]
deadline = time.time() + seconds
while time.time() < deadline and len(found) < len(types):
    time.sleep(0.05)
out = {}
for type_, name in found.items():
    info = zc.get_service_info(type_, name, timeout=3000)
    out[type_] = {"name": name, "port": info.port if info else None}
print(json.dumps(out))
zc.close()

#!/usr/bin/env bash
# Debian packages some tests use (they skip with a reason when these are missing):
#   liblo-tools  oscsend/oscdump, a real OSC client
#   iproute2     ip netns, for tests in private network namespaces
#   nftables     packet loss and partitions on a namespaced bridge
#   chromium     headless browser that loads the visual output page (driven by playwright-core)
set -euo pipefail
need=()
command -v oscsend >/dev/null 2>&1 || need+=(liblo-tools)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-debian-deps: not root; the tests that need ${need[*]} will skip" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"

#!/usr/bin/env bash
# Installs the Debian packages listed in test/debian-tools.txt whose tool is missing. The tests
# that need them skip with a reason without them; CI runs this (as root) so they run there.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
while read -r tool pkg _; do
  [[ -z $tool || $tool == \#* ]] && continue
  case $tool in
    python3:*) /usr/bin/python3 -c "import ${tool#python3:}" >/dev/null 2>&1 && continue ;;
    /*) [ -e "$tool" ] && continue ;;
    *) command -v "$tool" >/dev/null 2>&1 && continue ;;
  esac
  [[ " ${need[*]-} " == *" $pkg "* ]] || need+=("$pkg")
done <test/debian-tools.txt
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-debian-deps: not root; the tests that need ${need[*]} will skip" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"

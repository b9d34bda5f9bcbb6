#!/usr/bin/env bash
# Installs what autosam-webgpu needs on Debian 12 (bookworm), idempotently:
#  - Mesa's lavapipe Vulkan driver from bookworm-backports (bookworm's own 22.3 is refused by Dawn),
#  - Debian's chromium (browser tests and benchmarks; it also ships SwiftShader's Vulkan driver),
#  - the data packages behind the built-in datasets (mricron-data, invesalius-examples, insighttoolkit5-examples),
#  - the npm dependencies (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
}

if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi

mesa_version=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -z "$mesa_version" ] || dpkg --compare-versions "$mesa_version" lt 25; then
  apt_update
  $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
fi

missing=()
for pkg in chromium mricron-data invesalius-examples insighttoolkit5-examples; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

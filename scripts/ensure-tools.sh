#!/usr/bin/env bash
# Installs what Lading's tests need on a fresh Debian machine: npm packages (with Node 24 as a
# devDependency) and the Debian tools the tests use as a real registry and as oracles.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/node ] || [ ! -d node_modules/@actions/core ]; then
  npm ci --no-audit --no-fund
fi

need=()
for pair in docker-registry:docker-registry skopeo:skopeo umoci:umoci oci-image-tool:oci-image-tool \
  htpasswd:apache2-utils buildah:buildah openssl:openssl gzip:gzip zstd:zstd tinyproxy:tinyproxy; do
  bin=${pair%%:*}
  pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/bin/$bin" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

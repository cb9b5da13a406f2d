#!/usr/bin/env bash
# Builds the example site in examples/hello into an OCI image layout at examples/out/layout,
# with the bundled CLI (dist/), no registry and no Docker daemon. The image holds only the site's
# files (on scratch there is no web server to run); with a base such as an httpd image in --from,
# the same layer would be served.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund
node_modules/.bin/node dist/cli/index.js build \
  --from scratch \
  --platforms linux/amd64,linux/arm64 \
  --layers examples/hello/site:/srv/www \
  --workdir /srv/www \
  --labels org.opencontainers.image.title=hello \
  --output examples/out/layout \
  --archive examples/out/hello.oci.tar
echo "layout written to examples/out/layout; inspect it with: skopeo inspect oci:examples/out/layout:latest"

#!/usr/bin/env bash
# Builds src/codec/wasm/libdeflate.wasm, the deflate compressor behind gzip layers, from Debian's
# libdeflate source package with Debian's clang, and writes src/codec/wasm/SOURCE beside it.
# scripts/libdeflate-fast.patch is applied first, for speed at level 1 (Lading's default): one
# candidate per hash bucket, hashed on 5 bytes with matches of 5 or more; of a match's positions
# only the first 3 and the last are hashed; right after a match its offset is tried again first;
# after 8 misses in a row it steps over bytes; literals are tallied per run; blocks of 32 KiB.
# One change reaches every level: a 64-bit machine word on wasm32 (the same bits out, faster).
# docs/performance.md has the measurements.
#
#   bash scripts/build-libdeflate-wasm.sh           rebuild and replace the committed files
#   bash scripts/build-libdeflate-wasm.sh --check   rebuild in a temporary folder and compare it
#                                                   byte for byte with the committed files (CI)
#
# Installs the toolchain with apt-get when it is missing (so it needs root then). The source is
# fetched with apt-get source through a private apt state holding deb-src entries for the mirrors
# the system's own sources name; /etc/apt is left as it is.
# Exit status: 0 built (or identical), 1 failure or a difference, 3 the toolchain cannot be
# installed (--check tells CI to skip).
set -euo pipefail

# The source that is built; SOURCE records it, and its tarball must match this checksum.
DEB_VERSION=1.14-1
ORIG_TARBALL=libdeflate_1.14.orig.tar.gz
ORIG_SHA256=89e7df898c37c3427b0f39aadcf733731321a278771d20fc553f92da8d4808ac
TOOL_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
PATCH=scripts/libdeflate-fast.patch
# Raw deflate only: the gzip header, CRC-32 and trailer are written in JavaScript
# (src/codec/deflate-worker.ts), where Node's zlib.crc32 is faster than a portable C one.
EXPORTS=(libdeflate_alloc_compressor libdeflate_deflate_compress
  libdeflate_deflate_compress_bound libdeflate_free_compressor malloc free)

cd "$(dirname "$0")/.."
repo=$PWD
committed=$repo/src/codec/wasm
check=false
case "${1:-}" in
  --check) check=true ;;
  '') ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 1
    ;;
esac

say() { echo "build-libdeflate-wasm: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_toolchain() {
  command -v clang-19 >/dev/null && command -v wasm-ld-19 >/dev/null &&
    [ -f /usr/lib/wasm32-wasi/libc.a ] &&
    [ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] &&
    command -v dpkg-source >/dev/null && command -v patch >/dev/null
}

install_toolchain() {
  if [ "$(id -u)" != 0 ]; then
    say "the toolchain (${TOOL_PACKAGES[*]} dpkg-dev) is missing and installing it needs root"
    return 1
  fi
  say "installing ${TOOL_PACKAGES[*]} dpkg-dev"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >"$work/apt.log" 2>&1 &&
    timeout 900 apt-get install -y -qq --no-install-recommends "${TOOL_PACKAGES[@]}" dpkg-dev \
      >>"$work/apt.log" 2>&1 || {
    tail -n 20 "$work/apt.log" >&2
    return 1
  }
}

# deb-src twins of the system's deb entries, in both the one-line and the deb822 formats.
write_src_entries() {
  local parts=$1 f
  mkdir -p "$parts"
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$parts/system.list"
  fi
  for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$parts/$(basename "$f")"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$parts/$(basename "$f")"
  done
  return 0
}

fetch_source() {
  local state=$work/apt
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$work/src"
  write_src_entries "$state/sources.list.d"
  local apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$state/sources.list.d"
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Sandbox::User=root
    -o Debug::NoLocking=true)
  say "fetching the libdeflate $DEB_VERSION source package"
  timeout 300 apt-get "${apt_opts[@]}" update -qq >"$work/src.log" 2>&1 &&
    (cd "$work/src" && timeout 300 apt-get "${apt_opts[@]}" source -qq "libdeflate=$DEB_VERSION") \
      >>"$work/src.log" 2>&1 || {
    tail -n 20 "$work/src.log" >&2
    say "apt-get source libdeflate=$DEB_VERSION failed"
    return 1
  }
  local sum
  sum=$(sha256sum "$work/src/$ORIG_TARBALL" | cut -d' ' -f1)
  if [ "$sum" != "$ORIG_SHA256" ]; then
    say "$ORIG_TARBALL has sha256 $sum, expected $ORIG_SHA256"
    return 1
  fi
}

compile() {
  local src=$work/src/libdeflate-${DEB_VERSION%-*} out=$1 flags=() e
  for e in "${EXPORTS[@]}"; do flags+=("-Wl,--export=$e"); done
  patch -s -d "$src" -p1 --no-backup-if-mismatch <"$repo/$PATCH"
  # No debug information, no names and no producers section: the file depends on the source and
  # the compiler only, never on the folder it was built in.
  (cd "$src" && clang-19 --target=wasm32-wasi -O3 -msimd128 -mbulk-memory -DNDEBUG -I. \
    -nostartfiles -Wl,--no-entry -Wl,--strip-all "${flags[@]}" \
    -o "$out/libdeflate.wasm" lib/deflate_compress.c lib/utils.c)
  cp "$src/COPYING" "$out/LICENSE"
  # wasi-libc is linked in too (dlmalloc, memcpy, memset, strlen, sbrk, errno, abort, exit: see
  # wasm-ld --trace); its licences are its package's copyright file. No compiler-rt object is.
  cp /usr/share/doc/wasi-libc/copyright "$out/LICENSE.wasi-libc"
  local tools
  tools=$(dpkg-query -W -f '${Package} ${Version}, ' "${TOOL_PACKAGES[@]}")
  cat >"$out/SOURCE" <<EOF
libdeflate.wasm is built by scripts/build-libdeflate-wasm.sh (CI rebuilds it and compares).
source: Debian source package libdeflate $DEB_VERSION
orig tarball: $ORIG_TARBALL sha256:$ORIG_SHA256
patch: $PATCH sha256:$(sha256sum "$repo/$PATCH" | cut -d' ' -f1)
toolchain: ${tools%, }
libdeflate.wasm sha256:$(sha256sum "$out/libdeflate.wasm" | cut -d' ' -f1)
LICENSE: libdeflate's COPYING from the same source
LICENSE.wasi-libc: wasi-libc's copyright file (/usr/share/doc/wasi-libc/copyright), for its malloc, memcpy, memset, strlen, sbrk, errno, abort and exit, linked in
EOF
}

if ! have_toolchain && ! install_toolchain; then
  say "the toolchain cannot be installed; libdeflate.wasm was not rebuilt"
  exit 3
fi
fetch_source
mkdir -p "$work/out"
compile "$work/out"

if $check; then
  status=0
  for f in libdeflate.wasm SOURCE LICENSE LICENSE.wasi-libc; do
    if ! cmp -s "$work/out/$f" "$committed/$f"; then
      say "src/codec/wasm/$f differs from a rebuild"
      status=1
    fi
  done
  if [ $status != 0 ]; then
    diff "$committed/SOURCE" "$work/out/SOURCE" >&2 || true
    say "run bash scripts/build-libdeflate-wasm.sh and commit src/codec/wasm/"
    exit 1
  fi
  say "src/codec/wasm/ matches a rebuild from libdeflate $DEB_VERSION"
else
  mkdir -p "$committed"
  install -m 644 "$work/out/libdeflate.wasm" "$work/out/SOURCE" "$work/out/LICENSE" \
    "$work/out/LICENSE.wasi-libc" "$committed/"
  say "wrote src/codec/wasm/ ($(stat -c %s "$committed/libdeflate.wasm") bytes)"
fi

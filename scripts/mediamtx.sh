#!/bin/bash
# Builds MediaMTX into build/mediamtx/mediamtx for the tests that publish into a real media
# server. `go install github.com/bluenviron/mediamtx@v1.14.0` fails: the module zip lacks
# two files its `go generate` steps would write and `//go:embed` needs
# (internal/core/VERSION, internal/servers/hls/hls.min.js). So: download the module, copy
# it, add those two (the HLS player script empty: the tests turn HLS off), and build.
# The rpicamera embeds are only for arm builds. Idempotent; a cached binary of the same
# version returns at once.
set -euo pipefail
VERSION=${MEDIAMTX_VERSION:-v1.14.0}
GO=${GO:-go}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/mediamtx
BIN=$OUT/mediamtx
STAMP=$OUT/.version

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
mkdir -p "$OUT"
# Test binaries may run this at the same time: one builds, the other waits and reuses.
exec 9>"$OUT/.lock"
flock 9
if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi

# `go mod download` needs a module to run in; a throwaway one keeps avhost's go.mod untouched.
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
(cd "$tmp" && "$GO" mod init mediamtx-fetch >/dev/null 2>&1 &&
  GOFLAGS=-mod=mod "$GO" mod download -json "github.com/bluenviron/mediamtx@$VERSION") >"$tmp/dl.json"
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$tmp/dl.json")
if [ -z "$dir" ] || [ ! -f "$dir/go.mod" ]; then
  echo "mediamtx: go mod download gave no module directory:" >&2
  cat "$tmp/dl.json" >&2
  exit 1
fi

# The module cache is read-only; build from a writable copy.
src=$OUT/src
chmod -R u+w "$src" 2>/dev/null || true
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
echo "$VERSION" >"$src/internal/core/VERSION"
: >"$src/internal/servers/hls/hls.min.js"

(cd "$src" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$GO" build -o "$BIN.tmp" .)
mv "$BIN.tmp" "$BIN"
echo "$VERSION" >"$STAMP"
echo "built $BIN ($VERSION)"

#!/usr/bin/env bash
# Vendor mermaid.min.js (v11) into docs/assets/vendor/ so the docs site draws its
# diagrams offline. Why: MkDocs Material fetches mermaid from a CDN unless a global
# `mermaid` already exists; CI and this machine reach only package registries, so
# the file comes from the npm registry (`npm pack`), never from a CDN.
#
# Idempotent: does nothing when the file is there. `--force` fetches again.
# Env: MERMAID_SPEC (default "mermaid@11") picks the npm version range.
# The target folder is gitignored: the file is a build input, not a source.
set -euo pipefail

cd "$(dirname "$0")/.."
VENDOR_DIR="docs/assets/vendor"
TARGET="$VENDOR_DIR/mermaid.min.js"
SPEC="${MERMAID_SPEC:-mermaid@11}"

if [[ "${1:-}" != "--force" && -s "$TARGET" ]]; then
  echo "fetch_mermaid: $TARGET already present ($(cat "$VENDOR_DIR/mermaid.VERSION" 2>/dev/null || echo 'version unknown')); --force to refetch"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_mermaid: npm not found; install Node.js/npm (apt-get install npm). Docs diagrams stay unrendered offline." >&2
  exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# `npm pack` downloads the published tarball only: no install, no scripts run.
TARBALL="$(cd "$WORK" && npm pack "$SPEC" --silent | tail -n 1)"
tar -xzf "$WORK/$TARBALL" -C "$WORK" package/dist/mermaid.min.js package/package.json package/LICENSE

VERSION="$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$WORK/package/package.json" | head -n 1)"
case "$VERSION" in
  11.*) ;;
  *) echo "fetch_mermaid: expected mermaid 11.x, got '${VERSION:-?}' from $SPEC" >&2; exit 1 ;;
esac

mkdir -p "$VENDOR_DIR"
# Write beside the target, then rename: a half-copied 3 MB file must never be served.
cp "$WORK/package/dist/mermaid.min.js" "$TARGET.tmp"
mv -f "$TARGET.tmp" "$TARGET"
cp "$WORK/package/LICENSE" "$VENDOR_DIR/mermaid.LICENSE"
echo "$VERSION" > "$VENDOR_DIR/mermaid.VERSION"
echo "fetch_mermaid: wrote $TARGET (mermaid $VERSION, $(wc -c < "$TARGET") bytes)"

#!/usr/bin/env bash
# Build the built-in Wasm plugins (plugins/) and install them into the presets that use them.
#
#   scripts/build-plugins.sh           build, copy presets/<key>/<name>.wasm, refresh the sha256
#                                      of the matching [[plugins]] entry in presets/<key>/preset.toml
#   scripts/build-plugins.sh --check   build, change nothing, fail if a committed module or digest
#                                      differs from what the sources produce (CI runs this)
#   scripts/build-plugins.sh --test    run the SDK's and the plugins' native tests
#
# The committed modules are built by the pinned toolchain: Debian's rustc 1.63 with its
# wasm32 standard library and packaged crates (apt-get install rustc cargo
# libstd-rust-dev-wasm32 librust-serde-json-dev librust-serde-derive-dev librust-regex-dev).
# Byte-identical output needs that toolchain, so --check refuses any other. Without it a plain
# build falls back to cargo/rustc from PATH (e.g. rustup with the wasm32-unknown-unknown
# target), which works but yields different bytes, hence different digests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Builds run from a copy of the sources at this fixed path. Cargo hashes absolute paths (path
# dependencies, rustflags) into symbol names, so building in place would make the bytes depend
# on where the checkout lives.
BUILD_DIR=/tmp/certior-plugins-build
TARGET_DIR="$BUILD_DIR/target"
TARGET=wasm32-unknown-unknown
PINNED_RUSTC="rustc 1.63.0"
DEBIAN_REGISTRY=/usr/share/cargo/registry

# Which presets ship which plugins (spec/API.md §5.1).
PRESETS=(default hipaa sox legal_privilege)
declare -A USES=(
  [default]="pii secrets"
  [hipaa]="pii keywords secrets"
  [sox]="keywords secrets"
  [legal_privilege]="keywords"
)
PLUGINS=(pii keywords secrets)

usage() { echo "usage: $0 [--check | --test]" >&2; exit 2; }

check=false
test=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  --test) test=true ;;
  *) usage ;;
esac
[ $# -le 1 ] || usage

# --- toolchain -------------------------------------------------------------------------------
cargo_args=(--locked --target-dir "$TARGET_DIR")
debian=false
if [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/$TARGET ] && [ -d "$DEBIAN_REGISTRY" ]; then
  export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc
  CARGO=/usr/bin/cargo
  REGISTRY_SRC="$DEBIAN_REGISTRY"
  debian=true
  cargo_args+=(--config 'source.crates-io.replace-with="debian"'
               --config "source.debian.directory=\"$DEBIAN_REGISTRY\"")
else
  CARGO="${CARGO:-cargo}"
  REGISTRY_SRC="${CARGO_HOME:-$HOME/.cargo}/registry/src"
  unset RUSTC
fi
rustc_version="$(${RUSTC:-rustc} --version)"
# Pinned means Debian's build of the pinned version: a rustup rustc of the same version ships a
# differently built standard library.
pinned=false
$debian && [ "$rustc_version" = "$PINNED_RUSTC" ] && pinned=true
if ! $pinned; then
  if $check; then
    echo "error: --check needs the pinned toolchain (Debian's $PINNED_RUSTC, see above); found: $rustc_version" >&2
    exit 1
  fi
  echo "warning: building with $rustc_version, not Debian's $PINNED_RUSTC: modules and digests will differ" >&2
fi

# Paths end up in panic messages inside the modules; give them neutral names.
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$BUILD_DIR/src=/certior"$'\x1f'"--remap-path-prefix=$REGISTRY_SRC=/registry"

# --- build -----------------------------------------------------------------------------------
mkdir -p "$BUILD_DIR"
exec 9>"$BUILD_DIR/lock"
flock 9  # one build at a time in the shared directory
rm -rf "$BUILD_DIR/src"
mkdir -p "$BUILD_DIR/src"
# tar keeps modification times, so unchanged sources are not rebuilt.
tar -C "$ROOT" --exclude=plugins/target -cf - plugins sdk/plugin | tar -C "$BUILD_DIR/src" -xf -

# Debian's syn package declares a placeholder instead of its crates.io checksum. The committed
# Cargo.lock carries the crates.io checksums (so rustup builds work with --locked); the Debian
# build uses a copy whose checksums are what the Debian registry declares.
debian_lock() {
  awk -v registry="$DEBIAN_REGISTRY" '
    /^name = / { name = $3; gsub(/"/, "", name) }
    /^version = / { version = $3; gsub(/"/, "", version) }
    /^checksum = / {
      file = registry "/" name "-" version "/.cargo-checksum.json"
      if ((getline json < file) > 0 && match(json, /"package":"[^"]*"/)) {
        $0 = "checksum = \"" substr(json, RSTART + 11, RLENGTH - 12) "\""
      }
      close(file)
    }
    { print }' "$1"
}
if $debian; then
  lock="$BUILD_DIR/src/plugins/Cargo.lock"
  debian_lock "$lock" > "$lock.debian" && mv "$lock.debian" "$lock"
fi

if $test; then
  echo "testing plugins with $rustc_version in $BUILD_DIR" >&2
  (cd "$BUILD_DIR/src/plugins" && "$CARGO" test "${cargo_args[@]}")
  exit 0
fi

echo "building plugins with $rustc_version in $BUILD_DIR" >&2
cargo_args+=(--release --target "$TARGET")
# Bulk memory turns the modules' copies into `memory.copy`, which the host runs natively; the
# default wasm32 target copies byte by byte in Wasm (a tenth of a `pii` evaluation). Wizer and
# wasmtime accept it; no other post-MVP feature is used.
export CARGO_ENCODED_RUSTFLAGS="$CARGO_ENCODED_RUSTFLAGS"$'\x1f'"-Ctarget-feature=+bulk-memory"
for plugin in "${PLUGINS[@]}"; do
  cargo_args+=(-p "certior-plugin-$plugin")
done
(cd "$BUILD_DIR/src/plugins" && "$CARGO" build "${cargo_args[@]}")

# --- install or check ------------------------------------------------------------------------

# Print preset.toml with the sha256 of the [[plugins]] entry whose `file` is $2 set to $3.
# Exits 3 if there is no such entry. A [[plugins]] entry runs until the next table header that
# is not one of its own sub-tables ([plugins.config]).
with_digest() {
  awk -v file="$2" -v sha="$3" '
    function flush(   i, hit, line) {
      hit = 0
      for (i = 1; i <= n; i++) if (buf[i] ~ "^[ \t]*file[ \t]*=[ \t]*\"" file "\"") hit = 1
      for (i = 1; i <= n; i++) {
        line = buf[i]
        if (hit && line ~ /^[ \t]*sha256[ \t]*=/) { sub(/"[^"]*"/, "\"" sha "\"", line); found++ }
        print line
      }
      n = 0
    }
    /^[ \t]*\[/ && $0 !~ /^[ \t]*\[plugins\./ { flush(); inblock = ($0 ~ /^[ \t]*\[\[plugins\]\]/) }
    { if (inblock) buf[++n] = $0; else print }
    END { flush(); if (found != 1) exit 3 }
  ' "$1"
}

failures=0
fail() { echo "error: $*" >&2; failures=$((failures + 1)); }

for preset in "${PRESETS[@]}"; do
  dir="$ROOT/presets/$preset"
  for plugin in ${USES[$preset]}; do
    built="$TARGET_DIR/$TARGET/release/$plugin.wasm"
    installed="$dir/$plugin.wasm"
    sha="$(sha256sum "$built" | cut -d' ' -f1)"
    if $check; then
      cmp -s "$built" "$installed" || fail "presets/$preset/$plugin.wasm differs from a build of plugins/$plugin (run scripts/build-plugins.sh)"
    else
      mkdir -p "$dir"
      cp "$built" "$installed"
    fi
    manifest="$dir/preset.toml"
    if [ -f "$manifest" ]; then
      if updated="$(with_digest "$manifest" "$plugin.wasm" "$sha")"; then
        if $check; then
          [ "$updated" == "$(cat "$manifest")" ] || fail "presets/$preset/preset.toml: sha256 of $plugin.wasm is not $sha"
        else
          printf '%s\n' "$updated" > "$manifest"
        fi
      else
        fail "presets/$preset/preset.toml has no single [[plugins]] entry with file = \"$plugin.wasm\" and a sha256"
      fi
    fi
    printf '%-16s %-9s %s\n' "$preset" "$plugin" "$sha"
  done
done

if [ "$failures" -gt 0 ]; then
  echo "$failures problem(s)" >&2
  exit 1
fi
$check && echo "plugins: committed modules and digests match the sources" >&2
exit 0

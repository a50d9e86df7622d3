#!/usr/bin/env bash
# Build the `{{name}}` plugin for wasm32-unknown-unknown, copy it to preset/{{name}}.wasm and set
# its sha256 in preset/preset.toml. Then check the preset as the server will:
#
#   certior preset pack preset
#
# Toolchain: Debian's rustc and cargo with the wasm32 standard library and packaged crates
# (apt-get install rustc cargo libstd-rust-dev-wasm32 librust-serde-json-dev
# librust-serde-derive-dev librust-regex-dev), built offline from /usr/share/cargo/registry.
# Without it, cargo and rustc from PATH are used (rustup with the wasm32-unknown-unknown target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

TARGET=wasm32-unknown-unknown
DEBIAN_REGISTRY=/usr/share/cargo/registry
cargo_args=(build --release --target "$TARGET")
if [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/$TARGET ] && [ -d "$DEBIAN_REGISTRY" ]; then
  export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc
  CARGO=/usr/bin/cargo
  cargo_args+=(--config 'source.crates-io.replace-with="debian"'
               --config "source.debian.directory=\"$DEBIAN_REGISTRY\"")
else
  CARGO="${CARGO:-cargo}"
fi

"$CARGO" "${cargo_args[@]}"
cp "target/$TARGET/release/{{name}}.wasm" preset/{{name}}.wasm
sha="$(sha256sum preset/{{name}}.wasm | cut -d' ' -f1)"
# The scaffold's preset.toml has one [[plugins]] entry, hence one sha256 line.
sed -i "s/^sha256 = \"[0-9a-f]*\"/sha256 = \"$sha\"/" preset/preset.toml
echo "preset/{{name}}.wasm  sha256 $sha"

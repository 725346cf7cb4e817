#!/usr/bin/env bash
# Rebuilds every example handler and the compiled test guests.
#
# Installs what it needs from the package registries first (Debian, PyPI,
# npm and Rust crates); pass --no-install to skip that. The outputs are
# committed, so neither sandbot nor its tests need these tools.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
wasmtime_version="48.0.8"

install_tools() {
    if ! command -v clang >/dev/null || [ ! -d /usr/include/wasm32-wasi ]; then
        apt-get update
        apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32
    fi
    python3 -m ziglang version >/dev/null 2>&1 || pip install ziglang
    command -v wasm-tools >/dev/null || cargo install --locked wasm-tools
    command -v wit-bindgen >/dev/null || cargo install --locked wit-bindgen-cli
    (cd "$here/as-reverse" && npm install --no-audit --no-fund)
}

# Prints the folder of the preview 1 adapters shipped for our wasmtime.
adapter_dir() {
    local fetch
    fetch="$(mktemp -d)"
    mkdir -p "$fetch/src"
    touch "$fetch/src/lib.rs"
    cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "adapter-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
wasi-preview1-component-adapter-provider = "=$wasmtime_version"
TOML
    (cd "$fetch" && cargo fetch -q)
    rm -rf "$fetch"
    ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasi-preview1-component-adapter-provider-"$wasmtime_version"/artefacts | head -n1
}

build_c_greet() {
    clang --target=wasm32-wasi -Os -Wl,--strip-all \
        -o "$here/greet-c.wasm" "$here/c-greet/greet.c"
}

build_zig_shout() {
    local out
    out="$(mktemp -d)"
    (cd "$out" && python3 -m ziglang build-exe "$here/zig-shout/shout.zig" \
        -target wasm32-wasi -O ReleaseSmall -fstrip --name shout)
    cp "$out/shout.wasm" "$here/shout-zig.wasm"
    rm -rf "$out"
}

build_as_reverse() {
    (cd "$here/as-reverse" && npm run --silent build)
}

# Our own world, in C: no WASI imports, so no adapter is needed.
build_c_vpn_name() {
    local gen
    gen="$(mktemp -d)"
    wit-bindgen c "$root/wit" --world handler --out-dir "$gen"
    clang --target=wasm32-wasi -mexec-model=reactor -Os -Wl,--strip-debug \
        -I"$gen" -o "$gen/core.wasm" "$here/c-vpn-name/vpn_name.c" \
        "$gen/handler.c" "$gen/handler_component_type.o"
    wasm-tools component new "$gen/core.wasm" -o "$here/vpn-name-component.wasm"
    rm -rf "$gen"
}

# The network test guest: wasi:sockets from C, adapted into a command.
build_connect_guest() {
    local gen dir="$root/tests/guests/connect"
    gen="$(mktemp -d)"
    wit-bindgen c "$dir/wit" --world probe --out-dir "$gen"
    clang --target=wasm32-wasi -Os -Wl,--strip-all -I"$gen" \
        -o "$gen/core.wasm" "$dir/connect.c" "$gen/probe.c" "$gen/probe_component_type.o"
    wasm-tools component new "$gen/core.wasm" \
        --adapt wasi_snapshot_preview1="$1/wasi_snapshot_preview1.command.wasm" \
        -o "$root/tests/guests/connect.wasm"
    rm -rf "$gen"
}

main() {
    if [ "${1:-}" != "--no-install" ]; then
        install_tools
    fi
    build_c_greet
    build_zig_shout
    build_as_reverse
    build_c_vpn_name
    build_connect_guest "$(adapter_dir)"
    ls -l "$here"/*.wasm "$root/tests/guests/connect.wasm"
}

main "$@"

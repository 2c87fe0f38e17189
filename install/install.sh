#!/bin/sh
# Installs atlassian-mcp-bridge into ~/.local/bin and adds it to an AI desktop's MCP config.
#
#   install/install.sh <claude-desktop|claude-code|vscode|cursor> [--force] [path/to/binary]
#
# Without a binary: builds one with `cargo build --profile dist` when run from a checkout, else uses
# the atlassian-mcp-bridge already on PATH. --force replaces an entry that runs another binary.
# ATLASSIAN_MCP_BRIDGE_HOME and ATLASSIAN_MCP_BRIDGE_CONFIG, when set, are written into the entry
# (apps started from the desktop do not see shell variables).
set -eu

name=atlassian-mcp-bridge
usage="usage: $0 <claude-desktop|claude-code|vscode|cursor> [--force] [path/to/$name]"
client= force= bin=
for arg in "$@"; do
    case $arg in
        --force) force=--force ;;
        -h | --help) echo "$usage"; exit 0 ;;
        -*) echo "$usage" >&2; exit 2 ;;
        *) if [ -z "$client" ]; then client=$arg; else bin=$arg; fi ;;
    esac
done
case $client in
    claude-desktop | claude-code | vscode | cursor) ;;
    *) echo "$usage" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$bin" ]; then
    if [ -f "$repo/Cargo.toml" ] && grep -q "^name = \"$name\"" "$repo/Cargo.toml"; then
        echo "building $name with cargo build --profile dist (several minutes: whole-program optimisation)" >&2
        (cd "$repo" && cargo build --profile dist)
        bin=$repo/target/dist/$name
    elif command -v "$name" >/dev/null 2>&1; then
        bin=$(command -v "$name")
    else
        echo "no $name binary: pass its path, or run this from a checkout with cargo installed" >&2
        exit 1
    fi
fi
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
    echo "$bin is not an executable file" >&2
    exit 1
fi

# Copy, then rename: replaces a binary a running client still holds open.
dir=$HOME/.local/bin
mkdir -p "$dir"
cp "$bin" "$dir/.$name.new"
chmod 755 "$dir/.$name.new"
mv -f "$dir/.$name.new" "$dir/$name"
echo "copied $bin to $dir/$name" >&2
case ":$PATH:" in
    *":$dir:"*) ;;
    *) echo "note: $dir is not on PATH; add it to run $name from a shell" >&2 ;;
esac

exec "$dir/$name" install "$client" $force

#!/usr/bin/env bash
# Fetches libkrunfw (libkrun's guest kernel as a shared library) from Debian sid into
# vendor/libkrunfw/ without touching the system's apt sources (see docs/kernel.md).
# Idempotent: does nothing when the library is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/vendor/libkrunfw"
lib="$dest/libkrunfw.so.5"
[ -f "$lib" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "deb [trusted=yes] http://deb.debian.org/debian sid main" > "$work/sid.list"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
opts=(-o "Dir::Etc::sourcelist=$work/sid.list" -o Dir::Etc::sourceparts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update
(cd "$work" && apt-get "${opts[@]}" -qq download libkrunfw5)
dpkg -x "$work"/libkrunfw5_*.deb "$work/out"
mkdir -p "$dest"
found=$(find "$work/out" -name 'libkrunfw.so.5*' -type f | head -n 1)
[ -n "$found" ] || { echo "libkrunfw5 package holds no libkrunfw.so.5" >&2; exit 1; }
cp "$found" "$lib.tmp" && mv "$lib.tmp" "$lib"
echo "libkrunfw: $(basename "$found") -> $lib"

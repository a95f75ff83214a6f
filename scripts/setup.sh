#!/usr/bin/env bash
# Sets up a Debian 12 machine (with Node and npm) to build, run and test boxlite.
# Idempotent: a second run only rebuilds. Needs root (or sudo) for apt-get.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# System packages: QEMU (the VMM), qemu-utils (qemu-img, the tests' oracle), e2fsprogs
# (mke2fs builds ext4 disks; debugfs makes the system disk reproducible), musl-tools + gcc + make (the guest agent and the C
# libraries), binutils, busybox-static (the default image), procps (the tests use pgrep), tar,
# docker-registry + skopeo (the image tests run a real registry on 127.0.0.1 and push to it),
# attr (getfattr: the tests read xattrs back with it), curl + gpgv + debian-archive-keyring +
# xz-utils (scripts/fetch-libkrunfw.sh downloads libkrunfw and verifies it against the archive
# keyring), gnupg (its test signs a local archive with a key of its own), libslirp-dev +
# libglib2.0-dev + pkg-config (netd, the box's network process, builds against libslirp and
# GLib; at run time it needs libslirp0, which qemu-system-x86 pulls in too), iproute2 (the
# network tests build their hosts and fake boxes from network namespaces, veth pairs and taps:
# `ip`), openssl (those hosts' TLS server gets a self-signed certificate made at test time),
# zstd (decompresses `.boxlite` archives on import; its test oracle too) with libzstd-dev +
# libssl-dev (libqcow2 compresses and hashes an export's disk in-process with libzstd and
# libcrypto, the libraries qemu-system-x86 already links at run time), util-linux (the
# tests run boxlite as another user with setpriv), linux-libc-dev (the seccomp filter's test
# checks its system call numbers against the kernel's header).
packages=(qemu-system-x86 qemu-utils e2fsprogs musl-tools gcc make binutils busybox-static procps tar ca-certificates docker-registry skopeo attr
          curl gpgv debian-archive-keyring xz-utils gnupg libslirp-dev libglib2.0-dev pkg-config iproute2 openssl zstd
          libzstd-dev libssl-dev util-linux linux-libc-dev)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies, Bun itself included (the bun package ships the binary).
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The guest kernel: libkrunfw from Debian's archive, verified, into vendor/ (not the system).
bash scripts/fetch-libkrunfw.sh

# One file: dist/boxlite embeds libkrunfw too (extracted to the runtime directory on first use).
node_modules/.bin/bun scripts/build.ts

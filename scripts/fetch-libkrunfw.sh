#!/usr/bin/env bash
# Fetches libkrunfw (libkrun's guest kernel as a shared library) from Debian sid into
# vendor/libkrunfw/, without touching the system's apt sources (see docs/kernel.md).
# Idempotent: does nothing when the library is already there.
#
# What is downloaded is verified before anything is unpacked, by the chain apt itself
# trusts: InRelease must carry a good signature by a key of the Debian archive keyring
# (gpgv); the Packages index must have the SHA-256 and size the signed Release lists; the
# .deb must have the SHA-256 and size the verified index lists. Any mismatch is an error
# and leaves vendor/ as it was: the library is published by one rename, last.
#
# Sourcing this file only defines the functions and settings below (the tests run the
# chain against a local archive signed with their own key, offline).
set -euo pipefail

MIRROR=http://deb.debian.org/debian
SUITE=sid
PACKAGE=libkrunfw5
# Measured: the bookworm keyring holds the keys that sign sid's Release.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
  echo "fetch-libkrunfw: $*" >&2
  exit 1
}

# download URL OUT
download() {
  curl -fsSL --retry 3 -o "$2" "$1" || die "cannot download $1"
}

# verify_release KEYRING INRELEASE OUT: writes INRELEASE's signed text to OUT, only when a
# key of KEYRING made the signature. Only that text is read afterwards, never the wrapper.
verify_release() {
  gpgv --keyring "$1" --output "$3" "$2" 2>"$3.gpgv" ||
    die "$(basename "$2") has no good signature by a key of $1, so nothing it lists can be trusted: $(grep -v '^gpgv: *using' "$3.gpgv" | tr '\n' ' ')"
}

# release_entry RELEASE PATH: prints "SHA256 SIZE" of PATH from the SHA256 section of RELEASE.
release_entry() {
  awk -v path="$2" '
    /^[^ ]/ { in_sha256 = ($1 == "SHA256:"); next }
    in_sha256 && $3 == path { print $1, $2; found = 1; exit }
    END { exit !found }' "$1" || die "the signed Release lists no SHA256 for $2"
}

# package_entry PACKAGES NAME: prints "FILENAME SHA256 SIZE" of NAME's first stanza in an
# uncompressed Packages index.
package_entry() {
  awk -v name="$2" '
    BEGIN { RS = ""; FS = "\n" }
    {
      package = filename = sha256 = size = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^Package: /) package = substr($i, 10)
        else if ($i ~ /^Filename: /) filename = substr($i, 11)
        else if ($i ~ /^SHA256: /) sha256 = substr($i, 9)
        else if ($i ~ /^Size: /) size = substr($i, 7)
      }
      if (package == name && filename != "" && sha256 != "" && size != "") { print filename, sha256, size; found = 1; exit }
    }
    END { exit !found }' "$1" || die "the signed index has no complete entry for $2"
}

# check_file FILE SHA256 SIZE: dies unless FILE has exactly that size and SHA-256.
check_file() {
  local size sum
  size=$(stat -c %s "$1")
  sum=$(sha256sum "$1" | cut -d ' ' -f 1)
  [ "$size" = "$3" ] && [ "$sum" = "$2" ] ||
    die "$(basename "$1") does not match the signed index (sha256 $sum, $size bytes; expected sha256 $2, $3 bytes): refusing it"
}

# fetch_libkrunfw DEST_DIR: the verified chain, then DEST_DIR/libkrunfw.so.5 by rename.
fetch_libkrunfw() {
  local dest=$1 work arch index entry sum size filename found
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  arch=$(dpkg --print-architecture)

  download "$MIRROR/dists/$SUITE/InRelease" "$work/InRelease"
  verify_release "$KEYRING" "$work/InRelease" "$work/Release"

  index="main/binary-$arch/Packages.xz"
  # An assignment, not `read <<<"$(…)"`, so that a failure inside stops the script (set -e).
  entry=$(release_entry "$work/Release" "$index")
  read -r sum size <<<"$entry"
  download "$MIRROR/dists/$SUITE/$index" "$work/Packages.xz"
  check_file "$work/Packages.xz" "$sum" "$size"
  xz -dc "$work/Packages.xz" >"$work/Packages"

  entry=$(package_entry "$work/Packages" "$PACKAGE")
  read -r filename sum size <<<"$entry"
  download "$MIRROR/$filename" "$work/package.deb"
  check_file "$work/package.deb" "$sum" "$size"

  dpkg -x "$work/package.deb" "$work/out"
  found=$(find "$work/out" -name 'libkrunfw.so.5*' -type f | head -n 1)
  [ -n "$found" ] || die "$PACKAGE ($filename) holds no libkrunfw.so.5"
  mkdir -p "$dest"
  cp "$found" "$dest/libkrunfw.so.5.tmp"
  mv "$dest/libkrunfw.so.5.tmp" "$dest/libkrunfw.so.5"
  echo "libkrunfw: $(basename "$filename") verified; $(basename "$found") -> $dest/libkrunfw.so.5"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  [ -f "$root/vendor/libkrunfw/libkrunfw.so.5" ] && exit 0
  fetch_libkrunfw "$root/vendor/libkrunfw"
fi

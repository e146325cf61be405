#!/usr/bin/env bash
# scripts/build-static-libarchive.sh — a minimal static libarchive for the
# static orch.
#
# Debian's own libarchive.a was built with ACL, LZ4, LZMA, bzip2, nettle and
# libxml2 (which pulls ICU's ~30 MB data library); libacl and liblz4 ship no
# static archives, so a static link against it fails. orch only reads layer
# tarballs: this script builds libarchive from Debian's libarchive source
# package (the same upstream release plus Debian's security patches) with tar
# (and the other read formats libarchive always has), gzip through zlib and
# zstd through libzstd. No ACL/xattr libraries (orch sets the overlay opaque
# xattr itself), no crypto, no XML, no iconv (a static glibc would dlopen gconv
# modules), no shared library, no bsdtar/bsdcpio tools.
#
# The source is fetched with apt, but through a private sources list, lists
# dir and cache so the system's apt configuration and state are not touched;
# the deb-src lines reuse the mirror this machine's own sources name (the same
# way scripts/build-static-curl.sh does it).
#
# Usage: scripts/build-static-libarchive.sh [PREFIX]   (default: build/deps/libarchive)
# Result: PREFIX/lib/libarchive.a, PREFIX/include/archive*.h,
#         PREFIX/lib/pkgconfig/libarchive.pc
#
# Cached: PREFIX/.orch-build-key records what the build was made from (this
# script, the installed libarchive-dev version it tracks, the zlib and zstd it
# compiled against); a re-run with the same key does nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${1:-$ROOT/build/deps/libarchive}
case "$PREFIX" in /*) ;; *) PREFIX="$PWD/$PREFIX" ;; esac
DEPS_DIR=$(dirname "$PREFIX")
WORK="$DEPS_DIR/libarchive-work"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'setup: static libarchive: %s\n' "$*"; }
die() { printf 'setup: static libarchive: error: %s\n' "$*" >&2; exit 1; }

LIBARCHIVE_CONFIGURE_FLAGS=(
  --disable-shared --enable-static
  --disable-dependency-tracking --disable-maintainer-mode
  --disable-silent-rules
  --disable-bsdtar --disable-bsdcat --disable-bsdcpio
  --disable-acl --disable-xattr
  --with-zlib --with-zstd
  --without-bz2lib --without-libb2 --without-iconv --without-lz4
  --without-lzma --without-lzo2 --without-cng --without-mbedtls
  --without-nettle --without-openssl --without-xml2 --without-expat
)

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

LA_DEB_VERSION=$(pkg_version libarchive-dev)
BUILD_KEY="$(cat "${BASH_SOURCE[0]}" "$ROOT/scripts/debian-source.sh" | sha256sum | cut -d' ' -f1) \
libarchive=${LA_DEB_VERSION:-unknown} \
zlib1g-dev=$(pkg_version zlib1g-dev) libzstd-dev=$(pkg_version libzstd-dev)"

if [ -f "$PREFIX/lib/libarchive.a" ] && [ -f "$PREFIX/lib/pkgconfig/libarchive.pc" ] &&
   [ "$(cat "$PREFIX/.orch-build-key" 2>/dev/null)" = "$BUILD_KEY" ]; then
  say "cached ($PREFIX)"
  exit 0
fi
[ -f /usr/include/zstd.h ] || die "zstd.h missing: install libzstd-dev"

start=$(date +%s)
rm -rf "$PREFIX" "$WORK"

# ---- the source, through a private apt view -------------------------------------
# shellcheck source=scripts/debian-source.sh
. "$ROOT/scripts/debian-source.sh"
debian_source_fetch libarchive "$LA_DEB_VERSION" "$WORK"

cd "$WORK/src/libarchive"
# Debian's patches touch configure.ac only for things orch does not build;
# the shipped configure is used as is (mark the generated files newer so make
# does not try to re-run autotools, which need not be installed).
if [ -x configure ]; then
  find . -name aclocal.m4 -o -name configure -o -name Makefile.in -o -name config.h.in |
    xargs touch
else
  command -v autoreconf >/dev/null || die "no configure script and no autoreconf (apt install autoconf automake libtool)"
  autoreconf -fi >"$WORK/autoreconf.log" 2>&1 ||
    { tail -n 40 "$WORK/autoreconf.log" >&2; die "autoreconf failed"; }
fi

say "configuring (log: $WORK/configure.log)"
CFLAGS="${CFLAGS:--O2 -g0}" ./configure --prefix="$PREFIX" "${LIBARCHIVE_CONFIGURE_FLAGS[@]}" \
  >"$WORK/configure.log" 2>&1 ||
  { tail -n 40 "$WORK/configure.log" >&2; die "configure failed"; }

say "building libarchive.la with -j$JOBS (log: $WORK/build.log)"
{
  make -j"$JOBS" libarchive.la &&
  make install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA
} >"$WORK/build.log" 2>&1 ||
  { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }

rm -f "$PREFIX"/lib/*.la
# The .pc lists what the archive needs; check nothing unwanted slipped in.
if grep -Eq 'xml2|nettle|crypto|acl|lzma|lz4|bz2|iconv' "$PREFIX/lib/pkgconfig/libarchive.pc"; then
  die "libarchive.pc names an unexpected dependency: $(grep -E '^(Libs|Requires)' "$PREFIX/lib/pkgconfig/libarchive.pc" | tr '\n' ' ')"
fi

printf '%s' "$BUILD_KEY" >"$PREFIX/.orch-build-key"
mkdir -p "$PREFIX/share/orch-build"
cp "$SOURCES_LIST" "$WORK/configure.log" "$PREFIX/share/orch-build/"
basename "$dsc" >"$PREFIX/share/orch-build/source-package"
rm -rf "$WORK"
say "built $(grep '^Version:' "$PREFIX/lib/pkgconfig/libarchive.pc" | cut -d' ' -f2) from $(cat "$PREFIX/share/orch-build/source-package") in $(( $(date +%s) - start ))s"

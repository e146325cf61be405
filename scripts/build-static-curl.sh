#!/usr/bin/env bash
# scripts/build-static-curl.sh — a minimal static libcurl for the static orch.
#
# Debian's own libcurl.a was built with GSS-API, LDAP, RTMP, SSH, PSL, IDN2,
# nghttp2, brotli and zstd, none of which ship static archives, so a static
# link against it fails. This script builds libcurl from Debian's curl source
# package (the same upstream release plus Debian's security patches) with only
# what orch uses: HTTP and HTTPS over OpenSSL, zlib, the threaded resolver,
# proxies and unix sockets. No shared library, no curl tool.
#
# The source is fetched with apt, but through a private sources list, lists
# dir and cache so the system's apt configuration and state are not touched;
# the deb-src lines reuse the mirror this machine's own sources name.
#
# Usage: scripts/build-static-curl.sh [PREFIX]     (default: build/deps/curl)
# Result: PREFIX/lib/libcurl.a, PREFIX/include/curl/, PREFIX/lib/pkgconfig/libcurl.pc
#
# Cached: PREFIX/.orch-build-key records what the build was made from (this
# script, the installed libcurl4-openssl-dev version it tracks, the OpenSSL
# and zlib it compiled against); a re-run with the same key does nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${1:-$ROOT/build/deps/curl}
case "$PREFIX" in /*) ;; *) PREFIX="$PWD/$PREFIX" ;; esac
DEPS_DIR=$(dirname "$PREFIX")
WORK="$DEPS_DIR/curl-work"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'setup: static curl: %s\n' "$*"; }
die() { printf 'setup: static curl: error: %s\n' "$*" >&2; exit 1; }

# Everything but HTTP(S) is off; so is every optional library that has no
# static archive in Debian or that orch does not need.
CURL_CONFIGURE_FLAGS=(
  --disable-shared --enable-static
  --disable-dependency-tracking --disable-maintainer-mode
  --disable-silent-rules
  --with-openssl --with-zlib
  --enable-http --enable-proxy --enable-ipv6 --enable-unix-sockets
  --enable-threaded-resolver
  --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp
  --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap
  --disable-smb --disable-smtp --disable-gopher --disable-mqtt
  --disable-ntlm --disable-ntlm-wb --disable-tls-srp
  --disable-manual
  # ~/.netrc lookups call getpwuid_r, which a static glibc cannot serve
  --disable-netrc
  # a static binary must not follow openssl.cnf into dlopen()ing providers
  --disable-openssl-auto-load-config
  --without-gssapi --without-libpsl --without-libidn2 --without-librtmp
  --without-libssh --without-libssh2 --without-nghttp2 --without-ngtcp2
  --without-nghttp3 --without-quiche --without-msh3 --without-hyper
  --without-brotli --without-zstd --without-libgsasl
  --without-zsh-functions-dir --without-fish-functions-dir
  --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt
  --with-ca-path=/etc/ssl/certs
)

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

CURL_DEB_VERSION=$(pkg_version libcurl4-openssl-dev)
BUILD_KEY="$(cat "${BASH_SOURCE[0]}" "$ROOT/scripts/debian-source.sh" | sha256sum | cut -d' ' -f1) \
curl=${CURL_DEB_VERSION:-unknown} \
libssl-dev=$(pkg_version libssl-dev) zlib1g-dev=$(pkg_version zlib1g-dev)"

if [ -f "$PREFIX/lib/libcurl.a" ] && [ -f "$PREFIX/lib/pkgconfig/libcurl.pc" ] &&
   [ "$(cat "$PREFIX/.orch-build-key" 2>/dev/null)" = "$BUILD_KEY" ]; then
  say "cached ($PREFIX)"
  exit 0
fi

start=$(date +%s)
rm -rf "$PREFIX" "$WORK"

# ---- the source, through a private apt view -------------------------------------
# shellcheck source=scripts/debian-source.sh
. "$ROOT/scripts/debian-source.sh"
debian_source_fetch curl "$CURL_DEB_VERSION" "$WORK"

# Debian's series ends with the patches that turn the tree into the GnuTLS
# and NSS flavours; its rules pop them before building the OpenSSL one.
cd "$WORK/src/curl"
for p in $(grep -vE '^[[:space:]]*(#|$)' debian/patches/series | tac); do
  case "$p" in
    *gnutls*|*nss*)
      patch -s -R -p1 --no-backup-if-mismatch <"debian/patches/$p" ||
        die "could not pop Debian patch $p" ;;
    *) break ;;
  esac
done

say "configuring (log: $WORK/configure.log)"
./configure --prefix="$PREFIX" "${CURL_CONFIGURE_FLAGS[@]}" \
  >"$WORK/configure.log" 2>&1 ||
  { tail -n 40 "$WORK/configure.log" >&2; die "configure failed"; }

say "building lib/ with -j$JOBS (log: $WORK/build.log)"
{
  make -j"$JOBS" -C lib &&
  make -C lib install &&
  make -C include install &&
  make install-pkgconfigDATA install-binSCRIPTS
} >"$WORK/build.log" 2>&1 ||
  { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }

# libtool's archive file only confuses later links; the .a and .pc are the API.
rm -f "$PREFIX"/lib/*.la

printf '%s' "$BUILD_KEY" >"$PREFIX/.orch-build-key"
# Keep the logs (small) with the result; the source tree and objects go.
mkdir -p "$PREFIX/share/orch-build"
cp "$SOURCES_LIST" "$WORK/configure.log" "$PREFIX/share/orch-build/"
basename "$dsc" >"$PREFIX/share/orch-build/source-package"
rm -rf "$WORK"
say "built $(grep '^Version:' "$PREFIX/lib/pkgconfig/libcurl.pc" | cut -d' ' -f2) from $(cat "$PREFIX/share/orch-build/source-package") in $(( $(date +%s) - start ))s"

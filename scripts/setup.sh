#!/usr/bin/env bash
# scripts/setup.sh — the one setup command.
#
# Brings a Debian 12 machine from nothing to three built trees, and is cheap to
# run again (every step checks first and skips what is already done):
#
#   1. installs the apt packages the project needs (APT_PACKAGES below is the
#      one list: add a package there and every developer and CI gets it);
#   2. builds the libraries whose Debian archives cannot link statically
#      (STATIC_DEPS below; minimal libcurl and libarchive from Debian's
#      source packages, scripts/build-static-NAME.sh) into build/deps/NAME,
#      cached there;
#   3. configures and builds build/      (ORCH_STATIC=ON: the shipped build/orch)
#                            build-asan/ (ORCH_SANITIZE=ON, dynamic)
#                            build-fuzz/ (clang, ORCH_FUZZ=ON: the libFuzzer
#                                         targets of tests/fuzz/ only).
#
# Usage: scripts/setup.sh [--no-asan] [--no-static] [--no-fuzz] [--deps-only] [-j N]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Everything apt must provide, in one place.
APT_PACKAGES=(
  # toolchain and build
  build-essential cmake pkg-config file dpkg-dev
  # libraries orch links (their -dev packages carry the .a files for the
  # static link as well)
  libsqlite3-dev libevent-dev libjansson-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev libarchive-dev libzstd-dev libseccomp-dev
  # tests
  libcmocka-dev python3 python3-pytest sqlite3 curl
  # fuzzing: clang and its libFuzzer + sanitizer runtimes
  clang libclang-rt-14-dev
  # benchmark peers (load balancer)
  wrk haproxy nginx
  # runtime tests: offline images, a local registry, and a peer runtime
  busybox-static skopeo umoci docker-registry runc zstd apache2-utils hyperfine
  # cluster tests: network namespaces, veth, a bridge, nsenter, certificates
  iproute2 util-linux openssl
)

build_static=1
build_asan=1
build_fuzz=1
deps_only=0
jobs=2

usage() {
awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --no-asan) build_asan=0 ;;
    --no-static) build_static=0 ;;
    --no-fuzz) build_fuzz=0 ;;
    --deps-only) deps_only=1 ;;
    -j) shift; jobs=${1:?-j needs a number} ;;
    -j*) jobs=${1#-j} ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'setup: %s\n' "$*"; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    say "not root and no sudo: apt installs will fail if anything is missing" >&2
  fi
fi

# ---- 1. apt packages ---------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done

apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@"
}

if [ ${#missing[@]} -eq 0 ]; then
  say "apt packages: all ${#APT_PACKAGES[@]} present"
else
  say "apt packages: installing ${missing[*]}"
  # Update the lists only when they are absent or an install fails (stale
  # lists name versions the archive no longer has).
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    say "apt lists missing: apt-get update"
    $SUDO apt-get update -q
  fi
  if ! apt_install "${missing[@]}"; then
    say "install failed: apt-get update and retry"
    $SUDO apt-get update -q
    apt_install "${missing[@]}"
  fi
fi

# ---- 2. private static libraries -----------------------------------------------
# Each NAME here is built by scripts/build-static-NAME.sh into build/deps/NAME
# (cached there) and put first on the static tree's pkg-config path, ahead of
# Debian's own archive of the same library.
STATIC_DEPS=(curl libarchive)
DEPS_ROOT="$ROOT/build/deps"
static_pkg_config_path=
static_prefix_path=
if [ "$build_static" -eq 1 ]; then
  for dep in "${STATIC_DEPS[@]}"; do
    bash "$ROOT/scripts/build-static-$dep.sh" "$DEPS_ROOT/$dep"
    static_pkg_config_path+="${static_pkg_config_path:+:}$DEPS_ROOT/$dep/lib/pkgconfig"
    static_prefix_path+="${static_prefix_path:+;}$DEPS_ROOT/$dep"
  done
fi

if [ "$deps_only" -eq 1 ]; then
  say "dependencies ready (--deps-only)"
  exit 0
fi

# ---- 3. the CMake trees ----------------------------------------------------------
# configure_tree DIR ARGS...: configure DIR once, and afresh when the
# arguments change (the build itself re-runs cmake when CMakeLists.txt does).
configure_tree() {
  local dir=$1; shift
  local stamp="$dir/.orch-setup-args"
  local want="$*"
  mkdir -p "$dir"
  if [ ! -f "$dir/CMakeCache.txt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "configuring $dir"
    # A fresh cache: pkg_check_modules caches what it found, so an old cache
    # would keep linking the libraries it found before (e.g. Debian's curl).
    rm -f "$dir/CMakeCache.txt" "$stamp"
    cmake -S "$ROOT" -B "$dir" "$@" >"$dir/setup-configure.log" 2>&1 || {
      cat "$dir/setup-configure.log" >&2
      say "cmake configure of $dir failed" >&2
      return 1
    }
    printf '%s' "$want" >"$stamp"
  fi
}

build_tree() {
  local dir=$1
  say "building $dir"
  cmake --build "$dir" -j"$jobs"
}

mkdir -p "$ROOT/build"
if [ "$build_static" -eq 1 ]; then
  # The private libraries' .pc files come first, so their -L and
  # Libs.private win over Debian's (whose libcurl.a drags in GSS-API, LDAP
  # and RTMP). CMAKE_PREFIX_PATH is cached, so the re-configures that
  # `cmake --build` runs by itself still find them without this environment.
  PKG_CONFIG_PATH="$static_pkg_config_path${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    configure_tree "$ROOT/build" -DORCH_STATIC=ON -DORCH_WERROR=ON \
      "-DCMAKE_PREFIX_PATH=$static_prefix_path"
  build_tree "$ROOT/build"
fi
if [ "$build_asan" -eq 1 ]; then
  configure_tree "$ROOT/build-asan" -DORCH_SANITIZE=ON -DORCH_WERROR=ON
  build_tree "$ROOT/build-asan"
fi
if [ "$build_fuzz" -eq 1 ]; then
  # Only the fuzz targets (orch_fuzz) and the libraries they link: the rest
  # of the tree is tested in build/ and build-asan/.
  configure_tree "$ROOT/build-fuzz" -DCMAKE_C_COMPILER=clang -DORCH_FUZZ=ON -DORCH_WERROR=ON
  say "building $ROOT/build-fuzz (fuzz targets)"
  cmake --build "$ROOT/build-fuzz" -j"$jobs" --target orch_fuzz
fi
say "done"

# scripts/debian-source.sh - fetch and unpack a Debian source package
# without touching the system's apt configuration or state.
#
# Sourced by scripts/build-static-*.sh, which define say() and die().
#
#   debian_source_fetch PACKAGE VERSION WORK
#
# writes a private sources list with deb-src lines for the mirrors this
# machine's own sources name (WORK/apt/sources.list, in SOURCES_LIST), a
# private lists dir and cache under WORK/apt, downloads PACKAGE's source
# (VERSION if the archive still has it, else the newest) and unpacks it into
# WORK/src/PACKAGE.  Sets `dsc` to the .dsc file's path.

debian_source_fetch() {
  local package=$1 version=$2
  WORK=$3
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/archives/partial" "$WORK/src"
  # ---- the private apt view: deb-src lines for this machine's mirrors ------------
  # shellcheck disable=SC1091
  CODENAME=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  CODENAME=${CODENAME:-bookworm}

  # find_mirror SUITE: print "URI SIGNED-BY" of the first enabled deb source for
  # SUITE with component main, from deb822 .sources files or one-line .list files.
  find_mirror() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v suite="$suite" '
        BEGIN { RS = ""; FS = "\n" }
        {
          types = uris = suites = comps = signed = ""; enabled = "yes"
          for (i = 1; i <= NF; i++) {
            line = $i
            if (line ~ /^[ \t]*#/ || line ~ /^[ \t]/) continue
            key = tolower(substr(line, 1, index(line, ":") - 1))
            val = substr(line, index(line, ":") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "components") comps = val
            else if (key == "signed-by") signed = val
            else if (key == "enabled") enabled = tolower(val)
          }
          if (enabled == "no" || (" " types " ") !~ / deb / ||
              (" " comps " ") !~ / main /) next
          n = split(suites, s, /[ \t]+/)
          for (j = 1; j <= n; j++) if (s[j] == suite) {
            split(uris, u, /[ \t]+/); print u[1], signed; exit
          }
        }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      awk -v suite="$suite" '
        $1 == "deb" {
          i = 2; signed = ""
          if ($2 ~ /^\[/) {
            while (i <= NF) {
              if ($i ~ /^\[?signed-by=/) { signed = $i; sub(/^\[?signed-by=/, "", signed); sub(/\]$/, "", signed) }
              if ($i ~ /\]$/) { i++; break }
              i++
            }
          }
          if ($(i + 1) != suite) next
          for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i, signed; exit }
        }' "$f"
    done
  }

  DEFAULT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
  SOURCES_LIST="$WORK/apt/sources.list"
  : >"$SOURCES_LIST"
  for suite in "$CODENAME" "$CODENAME-updates" "$CODENAME-security"; do
    read -r uri signed < <(find_mirror "$suite" | head -n1) || true
    if [ -z "${uri:-}" ]; then
      case "$suite" in
        "$CODENAME") uri=http://deb.debian.org/debian ;;
        *) continue ;;  # no updates/security mirror configured: skip them
      esac
    fi
    [ -n "${signed:-}" ] || { [ -f "$DEFAULT_KEYRING" ] && signed=$DEFAULT_KEYRING; }
    opts=""
    [ -n "${signed:-}" ] && opts="[signed-by=$signed] "
    echo "deb-src ${opts}${uri} ${suite} main" >>"$SOURCES_LIST"
    uri="" signed=""
  done
  say "deb-src lines: $(paste -sd';' "$SOURCES_LIST")"

  APT_PRIVATE=(
    -o Dir::Etc::SourceList="$SOURCES_LIST"
    -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$WORK/apt/lists"
    -o Dir::Cache::Archives="$WORK/apt/archives"
    -o Dir::Cache::pkgcache=
    -o Dir::Cache::srcpkgcache=
    -o APT::Sandbox::User=root
    -o Acquire::Languages=none
  )

  say "fetching source index"
  apt-get "${APT_PRIVATE[@]}" -q -q update >"$WORK/apt-update.log" 2>&1 ||
    { cat "$WORK/apt-update.log" >&2; die "apt-get update (private lists) failed"; }

  # Prefer the exact version given (the installed -dev package's), so the
  # static and the dynamic builds report the same library; an archive that has
  # moved on only has its newer version, which is as good.
  cd "$WORK/src"
  fetched=0
  if [ -n "$version" ] &&
     apt-get "${APT_PRIVATE[@]}" -q -q source --download-only "$package=$version" \
       >"$WORK/apt-source.log" 2>&1; then
    fetched=1
  elif apt-get "${APT_PRIVATE[@]}" -q -q source --download-only "$package" \
       >"$WORK/apt-source.log" 2>&1; then
    fetched=1
  fi
  [ "$fetched" -eq 1 ] || { cat "$WORK/apt-source.log" >&2; die "apt-get source $package failed"; }
  dscs=("$WORK"/src/"$package"_*.dsc)
  dsc=${dscs[0]}
  [ -f "$dsc" ] || die "apt-get source left no ${package}_*.dsc"
  say "unpacking $(basename "$dsc")"
  dpkg-source -q -x "$dsc" "$WORK/src/$package" >"$WORK/dpkg-source.log" 2>&1 ||
    { cat "$WORK/dpkg-source.log" >&2; die "dpkg-source -x failed"; }
}

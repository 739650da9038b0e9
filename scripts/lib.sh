#!/usr/bin/env bash
# Shell helpers shared by scripts/test.sh and scripts/cluster-demo.sh (source it; it defines
# functions only).

die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------------------
# ensure_apt_packages PKG...: installs the Debian packages that `dpkg -s` says
# are missing (apt-get update, then apt-get install -y); does nothing when all
# are installed. Used for redis-server (cluster tests and demo), chromium
# (browser tests) and nginx (proxy tests and cluster demo):
#   ensure_apt_packages chromium nginx
# ---------------------------------------------------------------------------
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "apt packages already installed: $*"
    return 0
  fi
  echo "installing apt packages: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

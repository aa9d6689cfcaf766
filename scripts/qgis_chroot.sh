#!/usr/bin/env bash
# Run the test suite against a newer Debian's QGIS (trixie: 3.40 LTR, sid: 3.44) in a chroot under build/,
# so one Debian 12 machine checks every QGIS we support. Usage: scripts/qgis_chroot.sh SUITE [pytest args]
# Needs root (debootstrap, chroot, mount). The chroot is reused once its stamp says the set-up finished.
set -euo pipefail
suite=${1:?usage: $0 trixie|sid [pytest args]}; shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/build/chroot-$suite"
venv=/opt/prospectra-venv
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
constraints="$root/constraints-$suite.txt"
requirements="$root/requirements.txt"
[ -f "$root/requirements-$suite.txt" ] && requirements="$root/requirements-$suite.txt"
[ -f "$constraints" ] || { echo "no $constraints" >&2; exit 2; }
[ "$(id -u)" = 0 ] || exec sudo "$0" "$suite" "$@"

# Everything mounted below $dir is recorded, so the trap can undo it even when a step fails half-way.
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  [ -z "${src:-}" ] || rmdir "$dir$src" 2>/dev/null || true
  [ -z "${tmp:-}" ] || rm -rf --one-file-system "$dir$tmp"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean environment in the chroot: nothing of the host's PATH, pyenv or pip settings leaks in.
in_chroot() {
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
    DEBIAN_FRONTEND=noninteractive PIP_CERT=/etc/prospectra-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}

# The stamp records what the chroot was built from; a changed requirement or pin rebuilds only the venv.
want=$(cat "$0" "$requirements" "$constraints" | sha256sum | cut -c1-16)
stamp="$dir/.prospectra-ready"

setup_system() {
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  # Never rm -rf through a mount (a bind mount of the checkout would be deleted with it).
  if findmnt -rn -o TARGET | grep -q "^$dir/"; then echo "$dir has mounts; unmount them first" >&2; exit 1; fi
  rm -rf --one-file-system "$dir"
  echo "debootstrap $suite into $dir (about 1 minute)..."
  debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$root/build/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$root/build/debootstrap-$suite.log" >&2; exit 1; }
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$dir/proc" && mounts+=("$dir/proc")
  echo "installing QGIS in the $suite chroot (about 3 minutes)..."
  # sid's Release file is sometimes past its Valid-Until; the check means nothing for a throwaway chroot.
  in_chroot sh -ec 'apt-get -qq -o Acquire::Check-Valid-Until=false update
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
      qgis python3-qgis qgis-providers python3-venv xvfb xauth >/dev/null
    apt-get clean'
  umount "$dir/proc" && unset 'mounts[-1]'
}

setup_venv() {
  # This network re-signs TLS: pip in the chroot must trust the host's CA bundle.
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/prospectra-ca.crt"
  # The pins must be this suite's own numpy/scipy, or pip would put a second numpy beside GDAL's.
  local pkg deb pin
  for pkg in numpy scipy; do
    deb=$(in_chroot dpkg-query -W -f '${Version}' "python3-$pkg" 2>/dev/null | sed 's/^[0-9]*://; s/[-+~].*//') || deb=
    pin=$(sed -n "s/^$pkg==\([^ #]*\).*/\1/p" "$constraints")
    if [ -n "$deb" ] && [ "$deb" != "$pin" ]; then
      echo "$constraints pins $pkg==$pin but Debian $suite has $deb: update the pin" >&2; exit 1
    fi
  done
  cp "$requirements" "$dir/tmp/requirements.txt" && cp "$constraints" "$dir/tmp/constraints.txt"
  echo "creating $venv in the $suite chroot..."
  in_chroot sh -ec "rm -rf $venv; python3 -m venv --system-site-packages $venv
    $venv/bin/python -m pip install -q -c /tmp/constraints.txt -r /tmp/requirements.txt
    rm -f /tmp/requirements.txt /tmp/constraints.txt"
}

# Test runs hold the lock shared, a set-up exclusive: it never rebuilds the venv under a running suite.
mkdir -p "$root/build"
exec 9>"$root/build/chroot-$suite.lock"
flock -s 9
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || { flock -u 9; flock 9; }
if [ ! -f "$stamp" ]; then
  start=$SECONDS
  setup_system
  setup_venv
  echo "$want" >"$stamp"
  echo "$suite chroot ready in $((SECONDS - start)) s"
elif [ "$(cat "$stamp")" != "$want" ]; then
  rm -f "$stamp"
  setup_venv
  echo "$want" >"$stamp"
fi
flock -s 9

# The checkout is seen read-only at a per-run path, so concurrent runs do not unmount each other's view;
# everything the tests write goes to a per-run temp folder (PROSPECTRA_BUILD, HOME).
src=/mnt/prospectra-$$
tmp=$(mktemp -d -p "$dir/tmp" prospectra.XXXXXX) && tmp=${tmp#"$dir"}
mkdir -p "$dir$src" "$dir$tmp/home"
mount --bind "$root" "$dir$src" && mounts+=("$dir$src")
mount -o remount,bind,ro "$dir$src"
start=$SECONDS
status=0
# The venv stays off PATH, as on the host: QGIS's embedded Python would otherwise take it up by itself.
in_chroot HOME="$tmp/home" PYTHONDONTWRITEBYTECODE=1 QT_QPA_PLATFORM=offscreen \
  PROSPECTRA_BUILD="$tmp/build" PROSPECTRA_VENV="$venv" TMPDIR="$tmp" \
  sh -c 'cd "$1" && shift && exec "$@"' sh "$src" "$venv/bin/python" -m pytest -q -p no:cacheprovider "${@:-test}" ||
  status=$?
echo "$suite tests took $((SECONDS - start)) s"
exit $status

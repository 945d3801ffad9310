#!/usr/bin/env bash
# Installs the package into throw-away chroots of the host's Debian release and checks what
# an administrator would: a fresh install (user, state directory, timer enabled and
# started, service never started), an install next to an existing multiflexi user, an
# in-place upgrade from the PHP 1.0.0 package (stand-in in php-1.x/) on a systemd host and
# on a host without systemd, then remove and purge.
#
# "systemd host": /run/systemd/system exists in the chroot and a stub systemctl in
# /usr/local/bin logs every call (and does what `disable` does to the links), so the checks
# can see which units the maintainer scripts start. deb-systemd-helper still manages the
# enablement links itself, as it does when /usr/bin/systemctl is absent.
#
# Usage: tests/packaging/install-test.sh DEB WORKDIR
# Needs root. The base chroot is cached in /var/cache/housekeeper-ci (rebuilt weekly).
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"

deb=${1:?usage: $0 DEB WORKDIR}
work=${2:?usage: $0 DEB WORKDIR}
here=$(cd "$(dirname "$0")" && pwd)
version=$(cargo_version)

# --- the base chroot
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cache=/var/cache/housekeeper-ci
base="$cache/$suite-essential-adduser.tar"
mkdir -p "$cache" "$work"
if [ ! -s "$base" ] || [ -n "$(find "$base" -mtime +7 2>/dev/null)" ]; then
  echo "building the $suite base chroot (cached in $base)"
  # The name must end in .tar for mmdebstrap to write a tarball.
  partial="$cache/partial-$suite.tar"
  mmdebstrap --quiet --variant=essential --include=adduser,init-system-helpers,passwd \
    "$suite" "$partial" || { echo "error: mmdebstrap failed" >&2; exit 1; }
  mv "$partial" "$base"
fi
old_deb=$(bash "$here/php-1.x/build.sh" "$work/php-1.x")

root=""
fresh_root() { # fresh_root NAME systemd|nosystemd
  root="$work/$1"
  rm -rf "$root"
  mkdir -p "$root"
  tar -xf "$base" -C "$root" || { echo "error: cannot unpack $base" >&2; exit 1; }
  rm -f "$root/usr/sbin/policy-rc.d"
  if [ "$2" = systemd ]; then
    mkdir -p "$root/run/systemd/system"
    cat > "$root/usr/local/bin/systemctl" <<'STUB'
#!/bin/sh
# Stub: logs the call (and whether the state directory is there at that moment);
# answers is-enabled from the links; disable removes the links.
state=gone; [ -d /var/lib/multiflexi-housekeeper ] && state=present
echo "$* state=$state" >> /var/log/systemctl-stub.log
args=""
for a in "$@"; do case "$a" in -*) ;; *) args="$args $a" ;; esac; done
set -- $args
case "$1" in
  is-enabled)
    if ls /etc/systemd/system/*.wants/"$2" >/dev/null 2>&1; then echo enabled; exit 0; fi
    echo disabled; exit 1 ;;
  is-active) exit 3 ;;
  disable) rm -f /etc/systemd/system/*.wants/"$2" ;;
esac
exit 0
STUB
    chmod 0755 "$root/usr/local/bin/systemctl"
  fi
  cp "$deb" "$old_deb" "$root/tmp/"
}
in_root() { chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
dpkg_in_root() { # logs to $root.log; fails like dpkg
  in_root dpkg "$@" >>"$root.log" 2>&1
}
new="/tmp/$(basename "$deb")"
old="/tmp/$(basename "$old_deb")"
timer_link=/etc/systemd/system/timers.target.wants/multiflexi-housekeeper.timer
service_link=/etc/systemd/system/multi-user.target.wants/multiflexi-housekeeper.service
has_link() { [ -L "$root$1" ]; }
no_link() { [ ! -e "$root$1" ] && [ ! -L "$root$1" ]; }
stub_log() { cat "$root/var/log/systemctl-stub.log" 2>/dev/null; }
service_started() { stub_log | grep -Eq '(^| )(start|restart|try-restart) .*multiflexi-housekeeper\.service'; }

state_dir_ok() {
  # Names resolved inside the chroot, where the user exists.
  [ "$(in_root stat -c '%U:%G %a' /var/lib/multiflexi-housekeeper)" = "multiflexi:multiflexi 700" ]
}
common_after_install() { # what every installed 2.x root must look like
  local what=$1
  same "$what: dpkg says $version is installed" "install ok installed $version" \
    "$(in_root dpkg-query -W -f '${Status} ${Version}' multiflexi-housekeeper)"
  same "$what: housekeeper runs in the chroot" "housekeeper $version" "$(in_root housekeeper --version 2>&1)"
  check "$what: multiflexi-housekeeper is the compatible entry point" \
    bash -c 'chroot "$1" multiflexi-housekeeper --help 2>&1 | grep -q "^Usage: housekeeper run"' _ "$root"
  same "$what: /usr/bin/multiflexi-housekeeper -> housekeeper" housekeeper \
    "$(readlink "$root/usr/bin/multiflexi-housekeeper")"
  check "$what: state directory multiflexi:multiflexi 0700" state_dir_ok
  check "$what: timer enabled (timers.target.wants link)" has_link "$timer_link"
  check "$what: service not enabled anywhere" \
    bash -c '[ -z "$(find "$1/etc/systemd/system" -name multiflexi-housekeeper.service 2>/dev/null)" ]' _ "$root"
}

# --- 1. fresh install on a systemd host
fresh_root fresh systemd
check "fresh: dpkg -i succeeds" dpkg_in_root -i "$new"
common_after_install fresh
passwd_line=$(in_root getent passwd multiflexi)
check "fresh: multiflexi is a system user" \
  bash -c 'uid=$(cut -d: -f3 <<<"$1"); [ "$uid" -lt 1000 ]' _ "$passwd_line"
same "fresh: multiflexi's home and shell" "/var/lib/multiflexi:/usr/sbin/nologin" \
  "$(cut -d: -f6,7 <<<"$passwd_line")"
same "fresh: multiflexi's primary group" multiflexi "$(in_root id -gn multiflexi)"
check "fresh: the timer was started" bash -c 'grep -Eq "(^| )start multiflexi-housekeeper\.timer" "$1/var/log/systemctl-stub.log"' _ "$root"
check_not "fresh: the service was not started" service_started
same "fresh: no file outside the package was left in /var/lib/multiflexi-housekeeper" "" \
  "$(ls -A "$root/var/lib/multiflexi-housekeeper")"

# remove keeps the journal; purge deletes it and the enablement state, keeps the user
mkdir -p "$root/var/lib/multiflexi-housekeeper/journal" && echo data > "$root/var/lib/multiflexi-housekeeper/journal/j"
check "fresh: dpkg -r succeeds" dpkg_in_root -r multiflexi-housekeeper
check "remove: /usr/bin/housekeeper is gone" test ! -e "$root/usr/bin/housekeeper"
check "remove: the journal stays" test -f "$root/var/lib/multiflexi-housekeeper/journal/j"
check "remove: the timer was stopped" bash -c 'grep -Eq "stop multiflexi-housekeeper\.timer" "$1/var/log/systemctl-stub.log"' _ "$root"
check "remove: the service was stopped" bash -c 'grep -Eq "stop .*multiflexi-housekeeper\.service" "$1/var/log/systemctl-stub.log"' _ "$root"
: > "$root/var/log/systemctl-stub.log"
check "fresh: dpkg -P succeeds" dpkg_in_root -P multiflexi-housekeeper
check "purge: the service and the timer were stopped while the journal was still there" bash -c '
  grep -Eq "stop .*multiflexi-housekeeper\.timer.* state=present" "$1/var/log/systemctl-stub.log" &&
  grep -Eq "stop .*multiflexi-housekeeper\.service.* state=present" "$1/var/log/systemctl-stub.log"' _ "$root"
check "purge: the state directory is gone" test ! -e "$root/var/lib/multiflexi-housekeeper"
check "purge: the timer link is gone" no_link "$timer_link"
check "purge: the multiflexi user stays" bash -c 'chroot "$1" getent passwd multiflexi >/dev/null' _ "$root"

# --- 2. install where the MultiFlexi packages already made the user (their way)
fresh_root existing-user nosystemd
in_root addgroup --quiet --system multiflexi
in_root adduser --quiet --system --ingroup multiflexi --home /var/lib/multiflexi --disabled-password multiflexi
before=$(in_root getent passwd multiflexi)
check "existing user: dpkg -i succeeds" dpkg_in_root -i "$new"
same "existing user: the passwd entry is untouched" "$before" "$(in_root getent passwd multiflexi)"
same "existing user: one multiflexi group" 1 "$(in_root getent group | grep -c '^multiflexi:')"
common_after_install "existing user"

# --- 3. upgrade from 1.0.0 on a systemd host (the 1.x prerm disables the timer)
upgrade_checks() {
  local what=$1
  common_after_install "$what"
  check "$what: the 1.x service's multi-user.target link is gone" no_link "$service_link"
  check "$what: /usr/lib/multiflexi-housekeeper is gone (with a stray file in it)" \
    test ! -e "$root/usr/lib/multiflexi-housekeeper"
  check "$what: the 1.x metainfo and icon are gone" bash -c '
    [ ! -e "$1/usr/share/metainfo/eu.multiflexi.multiflexi_housekeeper.metainfo.xml" ] &&
    [ ! -e "$1/usr/share/icons/hicolor/scalable/apps/eu.multiflexi.multiflexi_housekeeper.svg" ]' _ "$root"
  same "$what: multiflexi-housekeeper.8.gz -> housekeeper.8.gz" housekeeper.8.gz \
    "$(readlink "$root/usr/share/man/man8/multiflexi-housekeeper.8.gz")"
  check "$what: the 2.x units replaced the 1.x ones" \
    bash -c '! grep -q "Requires=" "$1"' _ "$root/$(unit_dir "$root")/multiflexi-housekeeper.timer"
  same "$what: dpkg -S /usr/bin/multiflexi-housekeeper" \
    "multiflexi-housekeeper: /usr/bin/multiflexi-housekeeper" \
    "$(in_root dpkg -S /usr/bin/multiflexi-housekeeper 2>&1)"
}
fresh_root upgrade-systemd systemd
check "upgrade (systemd): the 1.0.0 stand-in installs" dpkg_in_root -i "$old"
check "upgrade (systemd): 1.x enabled the service for multi-user.target" has_link "$service_link"
check "upgrade (systemd): 1.x started the service at install (the fault 2.x fixes)" service_started
echo stray > "$root/usr/lib/multiflexi-housekeeper/cache.tmp"
: > "$root/var/log/systemctl-stub.log"
check "upgrade (systemd): dpkg -i 2.x succeeds" dpkg_in_root -i "$new"
check "upgrade (systemd): the 1.x prerm disabled the timer (systemctl disable seen)" \
  bash -c 'grep -q "disable multiflexi-housekeeper.timer" "$1/var/log/systemctl-stub.log"' _ "$root"
upgrade_checks "upgrade (systemd)"
check "upgrade (systemd): the timer was restarted" \
  bash -c 'grep -Eq "(^| )restart multiflexi-housekeeper\.timer" "$1/var/log/systemctl-stub.log"' _ "$root"
check_not "upgrade (systemd): the service was not started" service_started

# --- 4. upgrade from 1.0.0 without systemd (links left as they were)
fresh_root upgrade-plain nosystemd
check "upgrade (no systemd): the 1.0.0 stand-in installs" dpkg_in_root -i "$old"
echo stray > "$root/usr/lib/multiflexi-housekeeper/cache.tmp"
check "upgrade (no systemd): dpkg -i 2.x succeeds" dpkg_in_root -i "$new"
upgrade_checks "upgrade (no systemd)"
check "upgrade (no systemd): dpkg -P succeeds" dpkg_in_root -P multiflexi-housekeeper
check "upgrade (no systemd): purge leaves no unit link" bash -c '
  [ -z "$(find "$1/etc/systemd/system" -name "multiflexi-housekeeper.*")" ]' _ "$root"

if [ "$failed" -gt 0 ]; then
  echo "dpkg output is in $work/*.log"
else
  for r in fresh existing-user upgrade-systemd upgrade-plain; do rm -rf "${work:?}/$r"; done
fi
finish install-test

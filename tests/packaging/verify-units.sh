#!/usr/bin/env bash
# Verifies the systemd units as the package installs them: stages a root from the .deb
# (units, the real /usr/bin/housekeeper, the man page) plus the host's own systemd units,
# and runs `systemd-analyze verify --root` on it. systemd-analyze reports unknown keys and
# unparsable values as warnings with exit status 0, so any output at all is a failure.
# Before trusting that, it proves on deliberately broken copies that each kind of mistake
# is caught. Also checks the hardening exposure score and the policy decisions the units
# encode (no Requires= in the timer, no [Install] in the service, ...).
#
# Usage: tests/packaging/verify-units.sh PATH/TO/multiflexi-housekeeper_VERSION_ARCH.deb
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"

deb=${1:?usage: $0 DEB}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
units=(multiflexi-housekeeper.service multiflexi-housekeeper.timer)

# systemd's own units (targets, slices) come from the host; ours and the binary from the
# package, where the package puts them (/lib/systemd/system or /usr/lib/systemd/system):
# the host's units go into the same directory, then the package is unpacked over them.
host_units=/lib/systemd/system
[ -d "$host_units/sysinit.target" ] || [ -e "$host_units/sysinit.target" ] || host_units=/usr/lib/systemd/system
dpkg-deb -x "$deb" "$tmp/deb"
units_rel=$(unit_dir "$tmp/deb")
mkdir -p "$root/$units_rel"
cp -a "$host_units/." "$root/$units_rel/"
dpkg-deb -x "$deb" "$root"
unitdir="$root/$units_rel"

verify() { # prints everything systemd-analyze says; fails when it says anything
  local out
  out=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" "${units[@]}" 2>&1)
  local rc=$?
  printf '%s' "$out"
  [ "$rc" -eq 0 ] && [ -z "$out" ]
}

if out=$(verify); then
  ok "systemd-analyze verify --root: no error, no warning (man page found for Documentation=)"
else
  fail "systemd-analyze verify --root"
  printf '%s\n' "$out" | sed 's/^/      /'
fi

# Each broken copy must be caught; the staged units are restored after each.
broken() { # broken "what" unit sed-expression [command-to-run-instead]
  local what=$1 unit=$2 expr=$3
  cp "$unitdir/$unit" "$tmp/saved"
  sed -i "$expr" "$unitdir/$unit"
  if cmp -s "$unitdir/$unit" "$tmp/saved"; then
    fail "broken copy '$what': the edit did not apply"
  elif verify >/dev/null; then
    fail "a broken unit passes: $what"
  else
    ok "a broken unit is caught: $what"
  fi
  cp "$tmp/saved" "$unitdir/$unit"
}
broken "misspelt key" multiflexi-housekeeper.service 's/^ProtectHome=yes/ProtectHomme=yes/'
broken "invalid value" multiflexi-housekeeper.service 's/^ProtectSystem=strict/ProtectSystem=strictest/'
broken "unknown syscall group" multiflexi-housekeeper.service 's/^SystemCallFilter=@system-service/SystemCallFilter=@system-servic/'
broken "ExecStart binary missing" multiflexi-housekeeper.service 's|^ExecStart=/usr/bin/housekeeper |ExecStart=/usr/bin/housekeepr |'
broken "bad calendar" multiflexi-housekeeper.timer 's/^OnCalendar=hourly/OnCalendar=hourlyy/'
broken "man page missing" multiflexi-housekeeper.timer 's/^Documentation=man:housekeeper(8)/Documentation=man:housekeepr(8)/'
mv "$root/usr/bin/housekeeper" "$tmp/hk"
if verify >/dev/null; then fail "a missing /usr/bin/housekeeper passes"; else ok "a missing /usr/bin/housekeeper is caught"; fi
mv "$tmp/hk" "$root/usr/bin/housekeeper"

# Hardening: systemd's exposure score (0 best .. 10 worst); 1.4 when written.
score=$(systemd-analyze security --offline=true --root="$root" multiflexi-housekeeper.service 2>/dev/null |
  sed -n 's/.*Overall exposure level for multiflexi-housekeeper.service: \([0-9.]*\).*/\1/p')
check "hardening exposure $score is at most 2.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'

# Policy the units encode (what reviewers of the PHP units asked for).
svc="$unitdir/multiflexi-housekeeper.service"
tmr="$unitdir/multiflexi-housekeeper.timer"
key() { sed -n "s/^$2=//p" "$1"; }
same "service Type" oneshot "$(key "$svc" Type)"
same "service User" multiflexi "$(key "$svc" User)"
same "service ExecStart" "/usr/bin/housekeeper run --once" "$(key "$svc" ExecStart)"
same "service EnvironmentFile is optional" "-/etc/multiflexi/multiflexi.env" "$(key "$svc" EnvironmentFile)"
same "service StateDirectory" multiflexi-housekeeper "$(key "$svc" StateDirectory)"
same "service ProtectSystem" strict "$(key "$svc" ProtectSystem)"
same "service ReadWritePaths: state dir, temp dir, SQLite dir only" \
  "/var/lib/multiflexi-housekeeper -/var/lib/multiflexi/tmp -/var/lib/dbconfig-common/sqlite3/multiflexi" \
  "$(key "$svc" ReadWritePaths | tr '\n' ' ' | sed 's/ $//')"
for k in PrivateTmp NoNewPrivileges ProtectHome; do
  same "service $k" yes "$(key "$svc" $k)"
done
check "service has a TimeoutStartSec" grep -q '^TimeoutStartSec=[0-9]' "$svc"
check "service has no [Install] section (only the timer starts it)" bash -c '! grep -q "^\[Install\]" "$1"' _ "$svc"
check "timer does not Require the service" bash -c '! grep -Eq "^(Requires|Wants|BindsTo)=" "$1"' _ "$tmr"
same "timer OnCalendar" hourly "$(key "$tmr" OnCalendar)"
same "timer RandomizedDelaySec" 300 "$(key "$tmr" RandomizedDelaySec)"
same "timer Persistent" true "$(key "$tmr" Persistent)"
same "timer WantedBy" timers.target "$(key "$tmr" WantedBy)"

finish verify-units

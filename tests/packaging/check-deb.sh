#!/usr/bin/env bash
# Checks the contents of the built multiflexi-housekeeper .deb: control fields, the exact
# file list with modes and link targets, that the binary runs under both of its names,
# the man page renders without warnings, the completions (of both names) parse, the units
# are the ones in systemd/ (in /lib/systemd or /usr/lib/systemd), NEWS.Debian is debian/NEWS,
# and the maintainer scripts enable and start the timer but never start the service, and
# stop both units before a purge deletes the state directory.
#
# Usage: tests/packaging/check-deb.sh PATH/TO/multiflexi-housekeeper_VERSION_ARCH.deb
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"

deb=${1:?usage: $0 DEB}
repo=$(repo_root)
version=$(cargo_version)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
dpkg-deb -e "$deb" "$tmp/control"
field() { dpkg-deb -f "$deb" "$1"; }

# --- control
same "Package" multiflexi-housekeeper "$(field Package)"
same "Version is Cargo.toml's" "$version" "$(field Version)"
check "Version upgrades the PHP package 1.0.0" dpkg --compare-versions "$(field Version)" gt 1.0.0
same "Architecture" "$(dpkg --print-architecture)" "$(field Architecture)"
depends=$(field Depends)
check "Depends on libc6" grep -q 'libc6' <<<"$depends"
check "Depends on adduser (postinst creates the user when missing)" grep -q 'adduser' <<<"$depends"
check "Depends on nothing of PHP or MultiFlexi" bash -c '! grep -Eq "php|multiflexi" <<<"$1"' _ "$depends"
check "no Breaks/Replaces/Conflicts needed (same package name as 1.x)" \
  bash -c '[ -z "$(dpkg-deb -f "$1" Breaks Replaces Conflicts)" ]' _ "$deb"

# --- exact file list: type, mode, path (and link target). The units are in /lib/systemd
# or, with a newer debhelper, in /usr/lib/systemd: either is accepted.
units=$(unit_dir "$tmp/root")
unit_dirs="d 755 ./${units%%/*}/"
case $units in usr/*) unit_dirs="d 755 ./usr/lib/" ;; esac
expected="d 755 ./
$unit_dirs
d 755 ./$(dirname "$units")/
d 755 ./$units/
f 644 ./$units/multiflexi-housekeeper.service
f 644 ./$units/multiflexi-housekeeper.timer
d 755 ./usr/
d 755 ./usr/bin/
f 755 ./usr/bin/housekeeper
l 777 ./usr/bin/multiflexi-housekeeper -> housekeeper
d 755 ./usr/share/
d 755 ./usr/share/bash-completion/
d 755 ./usr/share/bash-completion/completions/
f 644 ./usr/share/bash-completion/completions/housekeeper
f 644 ./usr/share/bash-completion/completions/multiflexi-housekeeper
d 755 ./usr/share/doc/
d 755 ./usr/share/doc/multiflexi-housekeeper/
f 644 ./usr/share/doc/multiflexi-housekeeper/NEWS.Debian.gz
f 644 ./usr/share/doc/multiflexi-housekeeper/OPERATIONS.md.gz
f 644 ./usr/share/doc/multiflexi-housekeeper/changelog.gz
f 644 ./usr/share/doc/multiflexi-housekeeper/copyright
d 755 ./usr/share/fish/
d 755 ./usr/share/fish/vendor_completions.d/
f 644 ./usr/share/fish/vendor_completions.d/housekeeper.fish
f 644 ./usr/share/fish/vendor_completions.d/multiflexi-housekeeper.fish
d 755 ./usr/share/man/
d 755 ./usr/share/man/man8/
f 644 ./usr/share/man/man8/housekeeper.8.gz
l 777 ./usr/share/man/man8/multiflexi-housekeeper.8.gz -> housekeeper.8.gz
d 755 ./usr/share/multiflexi-housekeeper/
d 755 ./usr/share/multiflexi-housekeeper/zabbix/
f 644 ./usr/share/multiflexi-housekeeper/zabbix/multiflexi-housekeeper-6.0.yaml
f 644 ./usr/share/multiflexi-housekeeper/zabbix/multiflexi-housekeeper-7.0.yaml
d 755 ./usr/share/zsh/
d 755 ./usr/share/zsh/vendor-completions/
f 644 ./usr/share/zsh/vendor-completions/_housekeeper
f 644 ./usr/share/zsh/vendor-completions/_multiflexi-housekeeper
d 755 ./var/
d 755 ./var/lib/
d 755 ./var/lib/multiflexi-housekeeper/"
actual=$(dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '
  { t = substr($1, 1, 1); t = (t == "-") ? "f" : t
    m = 0; p = substr($1, 2, 9)
    for (i = 0; i < 3; i++) {
      v = 0
      if (substr(p, i*3+1, 1) == "r") v += 4
      if (substr(p, i*3+2, 1) == "w") v += 2
      if (substr(p, i*3+3, 1) ~ /[xst]/) v += 1
      m = m * 10 + v
    }
    line = t " " m " " $6
    if (t == "l") line = line " -> " $8
    print line }' | sort)
if [ "$(sort <<<"$expected")" = "$actual" ]; then
  ok "file list, modes and link targets"
else
  fail "file list, modes and link targets"
  diff <(sort <<<"$expected") <(printf '%s\n' "$actual") | sed 's/^/      /'
fi
check "every file owned by root" \
  bash -c '! dpkg-deb --fsys-tarfile "$1" | tar -tvf - | awk "{print \$2}" | grep -qv "^root/root$"' _ "$deb"

# --- the binary, under both names
bin="$tmp/root/usr/bin/housekeeper"
same "housekeeper --version" "housekeeper $version" "$("$bin" --version 2>&1)"
compat_help=$("$tmp/root/usr/bin/multiflexi-housekeeper" --help 2>&1)
check "multiflexi-housekeeper maps to 'housekeeper run'" grep -q '^Usage: housekeeper run' <<<"$compat_help"
check "multiflexi-housekeeper accepts --dry-run and -n" grep -q -- '-n, --dry-run' <<<"$compat_help"
check "the binary needs no library beyond libc and libgcc_s" bash -c '
  ! ldd "$1" | awk "{print \$1}" | grep -Ev "^(linux-vdso\\.so\\.1|libc\\.so\\.6|libgcc_s\\.so\\.1|libm\\.so\\.6|/lib64/ld-linux-x86-64\\.so\\.2|/lib/ld-linux-aarch64\\.so\\.1)$"' _ "$bin"

# --- man page
man="$tmp/root/usr/share/man/man8/housekeeper.8.gz"
warnings=$(zcat "$man" | LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l - 2>&1 >/dev/null)
same "man page renders without groff warnings" "" "$warnings"
text=$(zcat "$man" | LC_ALL=C.UTF-8 MANWIDTH=80 man -E UTF-8 -l - 2>/dev/null | col -b)
for section in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS DUTIES ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
  check "man page has $section" grep -q "^$section\$" <<<"$text"
done
check "man page documents the compatible entry point" grep -q 'multiflexi-housekeeper \[--dry-run|-n\]' <<<"$text"
check "man page title is housekeeper(8)" grep -q '^housekeeper(8)' <<<"$text"

# --- completions
check "bash completion parses" bash -n "$tmp/root/usr/share/bash-completion/completions/housekeeper"
check "bash completion completes housekeeper" \
  grep -q 'complete .*housekeeper' "$tmp/root/usr/share/bash-completion/completions/housekeeper"
same "zsh completion header" "#compdef housekeeper" \
  "$(head -n1 "$tmp/root/usr/share/zsh/vendor-completions/_housekeeper")"
check "fish completion completes housekeeper" \
  grep -q '^complete -c housekeeper' "$tmp/root/usr/share/fish/vendor_completions.d/housekeeper.fish"
# The PHP tool's entry point: the options of `housekeeper run`, no subcommands.
compat_bash="$tmp/root/usr/share/bash-completion/completions/multiflexi-housekeeper"
check "bash completion of multiflexi-housekeeper parses" bash -n "$compat_bash"
check "bash completion completes multiflexi-housekeeper" grep -q 'complete .*multiflexi-housekeeper$' "$compat_bash"
check "bash completion of multiflexi-housekeeper offers --dry-run" grep -q -- '--dry-run' "$compat_bash"
check_not "bash completion of multiflexi-housekeeper offers no subcommand" grep -q 'journal' "$compat_bash"
same "zsh completion header of multiflexi-housekeeper" "#compdef multiflexi-housekeeper" \
  "$(head -n1 "$tmp/root/usr/share/zsh/vendor-completions/_multiflexi-housekeeper")"
check "fish completion completes multiflexi-housekeeper" \
  grep -q '^complete -c multiflexi-housekeeper' "$tmp/root/usr/share/fish/vendor_completions.d/multiflexi-housekeeper.fish"

# --- units are the ones in systemd/
for unit in multiflexi-housekeeper.service multiflexi-housekeeper.timer; do
  check "$unit is systemd/$unit" cmp -s "$repo/systemd/$unit" "$tmp/root/$units/$unit"
done

check "NEWS.Debian.gz is debian/NEWS" bash -c \
  'zcat "$1/usr/share/doc/multiflexi-housekeeper/NEWS.Debian.gz" | cmp -s - "$2/debian/NEWS"' _ "$tmp/root" "$repo"
check "OPERATIONS.md.gz is docs/OPERATIONS.md" bash -c \
  'zcat "$1/usr/share/doc/multiflexi-housekeeper/OPERATIONS.md.gz" | cmp -s - "$2/docs/OPERATIONS.md"' _ "$tmp/root" "$repo"

# --- maintainer scripts
for script in postinst prerm postrm; do
  check "$script is valid sh" sh -n "$tmp/control/$script"
done
check "postinst enables the timer" grep -q "deb-systemd-helper enable 'multiflexi-housekeeper.timer'" "$tmp/control/postinst"
check "postinst starts the timer" grep -q "deb-systemd-invoke \$_dh_action 'multiflexi-housekeeper.timer'" "$tmp/control/postinst"
for unit in multiflexi-housekeeper.service multiflexi-housekeeper.timer; do
  check "prerm stops $unit on remove" grep -Eq "deb-systemd-invoke stop .*'?$unit'?" "$tmp/control/prerm"
done
check "postrm purge stops both units before it deletes the state directory" awk '
  /deb-systemd-invoke stop .*multiflexi-housekeeper\.timer.*multiflexi-housekeeper\.service/ && !stop { stop = NR }
  /rm -rf \/var\/lib\/multiflexi-housekeeper/ && !rm { rm = NR }
  END { exit !(stop && rm && stop < rm) }' "$tmp/control/postrm"
check "no maintainer script starts or enables the service" bash -c '
  ! grep -Eh "deb-systemd-(invoke|helper) .*(start|restart|enable).*multiflexi-housekeeper\\.service" "$@"' _ \
  "$tmp/control/postinst" "$tmp/control/prerm" "$tmp/control/postrm"
check "no maintainer script calls systemctl start/enable directly" bash -c '
  ! grep -Eh "systemctl +(start|enable|restart)" "$@"' _ "$tmp/control/postinst" "$tmp/control/prerm" "$tmp/control/postrm"

finish check-deb

#!/usr/bin/env bash
# Builds the stand-in of the PHP multiflexi-housekeeper 1.0.0 package (see README.md).
# Usage: tests/packaging/php-1.x/build.sh OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: $0 OUTDIR}
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

cp -a "$here/root/." "$tree/"
install -d -m 0755 "$tree/DEBIAN"
install -m 0644 "$here/DEBIAN/control" "$tree/DEBIAN/control"
for script in postinst prerm postrm; do
  install -m 0755 "$here/DEBIAN/$script" "$tree/DEBIAN/$script"
done

# The PHP files, as placeholders, where 1.x installed them.
lib="$tree/usr/lib/multiflexi-housekeeper"
install -d "$lib/MultiFlexi/Duty"
for f in housekeeper.php autoload.php MultiFlexi/Housekeeper.php MultiFlexi/Duty/AbstractDuty.php \
         MultiFlexi/Duty/LogPruning.php; do
  printf '<?php\n// placeholder for %s of multiflexi-housekeeper 1.0.0\n' "$f" > "$lib/$f"
done
printf '{"name": "vitexsoftware/multiflexi-housekeeper", "version": "1.0.0"}\n' > "$lib/composer.json"
install -d "$tree/usr/bin"
cat > "$tree/usr/bin/multiflexi-housekeeper" <<'SH'
#!/bin/sh
export MULTIFLEXI_HOUSEKEEPER_DRY_RUN=false
for arg in "$@"; do
    case "$arg" in --dry-run|-n) export MULTIFLEXI_HOUSEKEEPER_DRY_RUN=true ;; esac
done
exec php -q -f /usr/lib/multiflexi-housekeeper/housekeeper.php -- "$@"
SH
chmod 0755 "$tree/usr/bin/multiflexi-housekeeper"
install -d "$tree/usr/share/man/man8" "$tree/usr/share/metainfo" \
  "$tree/usr/share/icons/hicolor/scalable/apps"
printf '.TH MULTIFLEXI-HOUSEKEEPER 8\n.SH NAME\nmultiflexi-housekeeper \\- placeholder\n' |
  gzip -9n > "$tree/usr/share/man/man8/multiflexi-housekeeper.8.gz"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<component type="console-application"><id>eu.multiflexi.multiflexi_housekeeper</id></component>\n' \
  > "$tree/usr/share/metainfo/eu.multiflexi.multiflexi_housekeeper.metainfo.xml"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' \
  > "$tree/usr/share/icons/hicolor/scalable/apps/eu.multiflexi.multiflexi_housekeeper.svg"

mkdir -p "$out"
dpkg-deb --root-owner-group -Zgzip --build "$tree" "$out/multiflexi-housekeeper_1.0.0_all.deb" >/dev/null
echo "$out/multiflexi-housekeeper_1.0.0_all.deb"

# shellcheck shell=bash
# Shared helpers of the packaging checks (sourced, not run).
# ok/fail print one line per check; finish prints "NAME: N passed, N failed" and sets the
# exit status.

passed=0
failed=0

ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$*"; }

# check "what" command...: ok when the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# check_not "what" command...: ok when the command fails.
check_not() {
  local what=$1; shift
  if "$@"; then fail "$what"; else ok "$what"; fi
}

# same "what" expected actual
same() {
  if [ "$2" = "$3" ]; then
    ok "$1"
  else
    fail "$1"
    printf '      expected: %s\n      actual:   %s\n' "$2" "$3"
  fi
}

finish() {
  printf '%s: %d passed, %d failed\n' "$1" "$passed" "$failed"
  [ "$failed" -eq 0 ]
}

repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

# The package version: the version in Cargo.toml's [package] section.
cargo_version() {
  sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$(repo_root)/Cargo.toml" | head -n1
}

# unit_dir ROOT: where the package put its units under ROOT, without the leading slash:
# lib/systemd/system (debhelper before the /usr merge of unit paths) or usr/lib/systemd/system.
unit_dir() {
  if [ -e "$1/usr/lib/systemd/system/multiflexi-housekeeper.service" ]; then
    echo usr/lib/systemd/system
  else
    echo lib/systemd/system
  fi
}

#!/usr/bin/env bash
# Builds the till's .deb (`tillpass`) with cargo-deb and checks what is in it: the two
# till binaries (never tillpass-central), the systemd unit, the udev rules, the sysusers.d
# and tmpfiles.d entries (byte for byte the ones in installer/assets), and maintainer
# scripts that are executable and parse. Exits non-zero on the first thing missing.
#
# Usage: installer/check-deb.sh        (from anywhere; honours CARGO_TARGET_DIR)
# Needs: cargo-deb 3.x (installed here when missing), dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
started=$SECONDS
step() { echo "== check-deb: $* ($((SECONDS - started))s)"; }
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }

if ! cargo deb --version 2>/dev/null | grep -Eq '(^| )3\.'; then
    step "installing cargo-deb 3.x"
    cargo install cargo-deb --locked --version '^3' --quiet
fi
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (apt-get install dpkg)"

step "release build of tillpass and tillpass-install"
# Tills get the agent without the demo store (central is not on tills).
cargo build --release --locked -p tillpass-agent --no-default-features --bins
cargo build --release --locked -p tillpass-installer --bins

step "cargo deb"
deb="$(cargo deb -p tillpass-installer --no-build | tail -n 1)"
[ -f "$deb" ] || fail "cargo deb did not report a package file (got: $deb)"
echo "$deb ($(du -h "$deb" | cut -f1))"

step "contents"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg-deb -c "$deb" > "$work/contents"
cat "$work/contents"
has() { grep -Eq " \./$1\$" "$work/contents" || fail "$1 is not in the package"; }
executable() {
    grep -E " \./$1\$" "$work/contents" | grep -Eq '^-rwxr-xr-x' \
        || fail "$1 is not mode 0755 in the package"
}
for bin in usr/bin/tillpass usr/bin/tillpass-install; do
    has "$bin"
    executable "$bin"
done
if grep -q 'tillpass-central' "$work/contents"; then
    fail "tillpass-central is in the till's package: central does not run on tills"
fi
dpkg-deb -x "$deb" "$work/root"
same() {
    has "$2"
    cmp -s "installer/assets/$1" "$work/root/$2" || fail "$2 differs from installer/assets/$1"
}
same tillpass.service usr/lib/systemd/system/tillpass.service
same 70-tillpass-scanners.rules usr/lib/udev/rules.d/70-tillpass-scanners.rules
same sysusers-tillpass.conf usr/lib/sysusers.d/tillpass.conf
same tmpfiles-tillpass.conf usr/lib/tmpfiles.d/tillpass.conf
"$work/root/usr/bin/tillpass-install" --version >/dev/null || fail "tillpass-install does not run"
"$work/root/usr/bin/tillpass" --version >/dev/null || fail "tillpass does not run"

step "control"
dpkg-deb -I "$deb" | tee "$work/info"
grep -Eq '^ Package: tillpass$' "$work/info" || fail "the package is not named tillpass"
grep -Eq '^ Depends:.*\bsystemd\b' "$work/info" || fail "the package does not depend on systemd"
dpkg-deb -e "$deb" "$work/control"
for script in postinst prerm postrm; do
    [ -f "$work/control/$script" ] || fail "maintainer script $script is missing"
    [ -x "$work/control/$script" ] || fail "maintainer script $script is not executable"
    sh -n "$work/control/$script" || fail "maintainer script $script does not parse"
    cmp -s "installer/debian/$script" "$work/control/$script" \
        || fail "maintainer script $script differs from installer/debian/$script"
done
grep -q 'udevadm control --reload' "$work/control/postinst" || fail "postinst does not reload udev"
grep -q 'systemctl daemon-reload' "$work/control/postinst" || fail "postinst does not reload systemd"

# The unit's hardening, as systemd scores it (lower is better; the unit comments say why
# what remains is needed). Skipped where systemd-analyze is missing or too old for
# --offline.
unit="$work/root/usr/lib/systemd/system/tillpass.service"
if command -v systemd-analyze >/dev/null \
    && score="$(systemd-analyze security --offline=true "$unit" 2>/dev/null \
        | sed -n 's/.*Overall exposure level for tillpass.service: \([0-9.]*\).*/\1/p')" \
    && [ -n "$score" ]; then
    step "systemd-analyze security: exposure $score"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' \
        || fail "the unit's exposure score $score is above 2.0: a hardening setting was lost"
else
    step "systemd-analyze security: skipped (no systemd-analyze with --offline here)"
fi

step "ok: $deb"

#!/usr/bin/env bash
# Builds the till's .deb (`tillpass`) with cargo-deb and checks what is in it: the two
# till binaries (never tillpass-central), their manual pages (generated from their clap
# definitions), the systemd unit, the udev rules, the sysusers.d and tmpfiles.d entries
# (byte for byte the ones in installer/assets), copyright, changelog.Debian.gz, md5sums,
# the dependencies, maintainer scripts that are executable, parse and use debhelper's
# systemd helpers, and lintian with no errors and no warnings. Exits non-zero on the
# first thing missing.
#
# Usage: installer/check-deb.sh        (from anywhere; honours CARGO_TARGET_DIR)
# Needs: cargo-deb 3.x (installed here when missing), dpkg-deb, lintian (skipped with a
# note when missing; CI installs it).
# The package's path is the last line printed.
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
# The agent crate links neither central nor the installer (the demo store is the crate
# tillpass-demo, not shipped); .ci/run checks that.
cargo build --release --locked -p tillpass-agent --bins
cargo build --release --locked -p tillpass-installer --bins

step "manual pages from the clap definitions"
mkdir -p "$target/release/man"
"$target/release/tillpass" man > "$target/release/man/tillpass.1"
"$target/release/tillpass-install" man > "$target/release/man/tillpass-install.1"
for page in tillpass tillpass-install; do
    grep -q '^\.TH' "$target/release/man/$page.1" || fail "$page.1 is not a manual page"
    # Compressed as Debian policy asks (cargo-deb leaves files from target/ as they are).
    gzip -9nf "$target/release/man/$page.1"
done

step "cargo deb"
built="$(cargo deb -p tillpass-installer --no-build | tail -n 1)"
[ -f "$built" ] || fail "cargo deb did not report a package file (got: $built)"

# cargo-deb writes no md5sums; dpkg --verify and debsums need them. Repack with them.
step "md5sums"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$built" "$work/pkg"
(cd "$work/pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$work/md5sums"
install -m 0644 "$work/md5sums" "$work/pkg/DEBIAN/md5sums"
deb="$built"
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$work/pkg" "$deb" >/dev/null
rm -rf "$work/pkg"
echo "$deb ($(du -h "$deb" | cut -f1))"

step "contents"
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
same sysusers.d/tillpass.conf usr/lib/sysusers.d/tillpass.conf
same tmpfiles.d/tillpass.conf usr/lib/tmpfiles.d/tillpass.conf
for doc in usr/share/doc/tillpass/copyright usr/share/doc/tillpass/changelog.Debian.gz \
    usr/share/man/man1/tillpass.1.gz usr/share/man/man1/tillpass-install.1.gz; do
    has "$doc"
done
if grep -Eq ' \./etc/' "$work/contents"; then
    fail "the package ships files in /etc: the system files belong in /usr/lib"
fi
"$work/root/usr/bin/tillpass-install" --version >/dev/null || fail "tillpass-install does not run"
"$work/root/usr/bin/tillpass" --version >/dev/null || fail "tillpass does not run"

step "control"
dpkg-deb -I "$deb" | tee "$work/info"
grep -Eq '^ Package: tillpass$' "$work/info" || fail "the package is not named tillpass"
for dep in systemd ca-certificates udev; do
    grep -Eq "^ Depends:.*\b$dep\b" "$work/info" || fail "the package does not depend on $dep"
done
grep -Eq '^ Description: in-store loyalty agent' "$work/info" \
    || fail "the synopsis is not the package's own"
dpkg-deb -e "$deb" "$work/control"
[ -f "$work/control/md5sums" ] || fail "md5sums is missing"
(cd "$work/root" && md5sum --quiet -c "$work/control/md5sums") || fail "md5sums do not match"
for script in preinst postinst prerm postrm; do
    [ -f "$work/control/$script" ] || fail "maintainer script $script is missing"
    [ -x "$work/control/$script" ] || fail "maintainer script $script is not executable"
    sh -n "$work/control/$script" || fail "maintainer script $script does not parse"
    # Ours, with debhelper's snippets in place of the #DEBHELPER# line.
    grep -v '^#DEBHELPER#$' "installer/debian/$script" | while IFS= read -r line; do
        grep -Fqx -- "$line" "$work/control/$script" || {
            echo "$line"
            exit 1
        }
    done >/dev/null || fail "maintainer script $script lost lines of installer/debian/$script"
    if grep -q '#DEBHELPER#' "$work/control/$script"; then
        fail "maintainer script $script still has its #DEBHELPER# token"
    fi
done
grep -q 'deb-systemd-helper' "$work/control/postrm" || fail "postrm lacks debhelper's unit snippet"
grep -Eq 'systemd-sysusers .*tillpass\.conf$' "$work/control/postinst" \
    || fail "postinst does not create the service user from tillpass.conf"
grep -q 'deb-systemd-invoke stop' "$work/control/prerm" || fail "prerm does not stop the agent"
grep -q 'tillpass-install install --central' "$work/control/postinst" \
    || fail "postinst does not print the next step"

if command -v lintian >/dev/null; then
    step "lintian"
    # --fail-on error,warning: clean means no error and no warning.
    lintian --fail-on error,warning --tag-display-limit 0 "$deb" \
        || fail "lintian reports errors or warnings"
else
    step "lintian: skipped (not installed: apt-get install lintian)"
fi

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

step "ok"
echo "$deb"

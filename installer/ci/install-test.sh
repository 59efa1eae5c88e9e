#!/usr/bin/env bash
# The till's .deb installed as a packaging engineer would, on a fresh Debian root:
#
#   debootstrap --variant=minbase bookworm → apt-get install ./tillpass_*.deb (its
#   dependencies from the Debian mirror) → the next step printed, `doctor` clean,
#   `dpkg --verify` → enrolment against a tillpass-central on loopback → the agent run as
#   its unit runs it → a sale through the POS API, synced to central → an upgrade to a
#   rebuilt package whose unit changed, with the database backed up and the new unit in
#   force → remove while central is down (data kept, purge refused loudly) → reinstall,
#   sync, remove, purge (everything gone, no copies left in /etc).
#
# systemd cannot run as PID 1 here, so the agent is started the way tillpass.service
# starts it: the unit systemd would load (`systemd-analyze cat-config`, which resolves
# /etc over /usr/lib and adds drop-ins, as systemd does), its User=, Group=,
# SupplementaryGroups=, Environment=, StateDirectory=, ConfigurationDirectory=,
# LoadCredential= (copied into a credentials directory) and ExecStart=. Because no
# systemd runs in the root, the maintainer scripts' debhelper snippets do not start or
# stop the agent: the test stops it where prerm would.
#
# Usage: installer/ci/install-test.sh [PACKAGE.deb]
#   Without an argument the package is built with installer/check-deb.sh.
#   Needs root, debootstrap, dpkg-deb, curl, and the Debian mirror of /etc/apt/sources*
#   (override with TILLPASS_DEBIAN_MIRROR=URL). Honours CARGO_TARGET_DIR.
#   TILLPASS_KEEP_ROOT=yes keeps the Debian root and the logs (mounted) for a look.
set -euo pipefail
cd "$(dirname "$0")/../.."

started=$SECONDS
step() { echo "== install-test: $* ($((SECONDS - started))s)"; }
fail() {
    echo "install-test: FAIL: $*" >&2
    for log in "${logs[@]}"; do
        [ -f "$log" ] && { echo "---- $log" >&2; tail -n 40 "$log" >&2; }
    done
    exit 1
}
logs=()

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"
for tool in debootstrap dpkg-deb curl; do
    command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install $tool)"
done

target="${CARGO_TARGET_DIR:-$PWD/target}"
mirror="${TILLPASS_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -Eo 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')" \
        || true
fi
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d /tmp/tillpass-install-test.XXXXXX)"
root="$work/root"
central_pid=""
agent_pid=""
cleanup() {
    if [ "${TILLPASS_KEEP_ROOT:-}" = yes ]; then
        echo "install-test: kept $work (TILLPASS_KEEP_ROOT=yes)" >&2
        [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
        [ -n "$central_pid" ] && kill "$central_pid" 2>/dev/null || true
        return
    fi
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    [ -n "$central_pid" ] && kill "$central_pid" 2>/dev/null || true
    for mount in run dev/pts dev proc; do
        mountpoint -q "$root/$mount" 2>/dev/null && umount -l "$root/$mount" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until "$@" succeeds, at most $1 seconds; names $2 on failure.
wait_until() {
    local secs="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "waited ${secs}s for $what"
        sleep 0.2
    done
}

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
apt_in_root() {
    in_root DEBIAN_FRONTEND=noninteractive ${TILLPASS_PURGE_UNSYNCED:+TILLPASS_PURGE_UNSYNCED=$TILLPASS_PURGE_UNSYNCED} \
        apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}

# ---- the package and central ----------------------------------------------------------
deb="${1:-}"
if [ -z "$deb" ]; then
    step "building the package"
    deb="$(bash installer/check-deb.sh | tail -n 1)"
fi
[ -f "$deb" ] || fail "no package at $deb"
step "package $(basename "$deb")"
cargo build --locked -q -p tillpass-central --bin tillpass-central
central_bin="$target/debug/tillpass-central"
[ -x "$central_bin" ] || fail "no tillpass-central at $central_bin"

# ---- a fresh Debian root --------------------------------------------------------------
step "debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { logs+=("$work/debootstrap.log" "$root/debootstrap/debootstrap.log"); fail "debootstrap"; }
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# An empty /run: no /run/systemd/system and no /run/udev/control, as in any chroot.
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
apt_in_root update > "$work/apt-update.log" 2>&1 || { logs+=("$work/apt-update.log"); fail "apt-get update"; }

# ---- install --------------------------------------------------------------------------
step "apt-get install ./$(basename "$deb")"
cp "$deb" "$root/tmp/tillpass.deb"
logs+=("$work/install.log")
apt_in_root install --no-install-recommends /tmp/tillpass.deb > "$work/install.log" 2>&1 \
    || fail "apt-get install"
grep -q 'tillpass-install install --central' "$work/install.log" \
    || fail "the next step (enrolment) was not printed after install"
for dep in systemd udev ca-certificates; do
    [ "$(in_root dpkg-query -W -f='${Status}' "$dep")" = "install ok installed" ] \
        || fail "dependency $dep was not installed"
done
in_root getent passwd tillpass >/dev/null || fail "the service user was not created"
# Names as the root's accounts say (the host's may differ).
[ "$(in_root stat -c %U /var/lib/tillpass)" = tillpass ] || fail "/var/lib/tillpass is not tillpass's"
[ "$(in_root stat -c '%U:%G %a' /etc/tillpass)" = "root:tillpass 750" ] \
    || fail "/etc/tillpass is not root:tillpass 0750"
in_root getent group input >/dev/null || fail "group input is missing (the unit needs it)"
in_root dpkg --verify tillpass || fail "dpkg --verify tillpass: files differ from md5sums"
for shadow in etc/systemd/system/tillpass.service etc/udev/rules.d/70-tillpass-scanners.rules \
    etc/sysusers.d/tillpass.conf etc/tmpfiles.d/tillpass.conf; do
    [ ! -e "$root/$shadow" ] || fail "/$shadow shadows the package's file"
done
step "doctor on the fresh install"
logs+=("$work/doctor.log")
in_root tillpass-install doctor > "$work/doctor.log" 2>&1 || fail "doctor fails a fresh install"
grep -q 'not enrolled yet' "$work/doctor.log" || fail "doctor does not say the till is not enrolled"
if grep -q 'FAIL' "$work/doctor.log"; then fail "doctor reports a FAIL on a fresh install"; fi

# ---- central on loopback, enrolment ---------------------------------------------------
mkdir -p "$work/central"
echo "install-test-admin-token-0123456789" > "$work/central/admin.token"
central() { (cd "$work/central" && "$central_bin" --db central.db --keys keys "$@"); }
# How many times central said it listens, so far.
listened() { grep -c 'tillpass-central listening' "$work/central.log" 2>/dev/null || true; }
listened_more_than() { [ "$(listened)" -gt "$1" ]; }
start_central() {
    local listen="$1" before
    before="$(listened)"
    # `exec`: $! is central itself, so stopping it stops central, not a subshell that
    # would leave central running (and the "central is down" steps untrue).
    (cd "$work/central" && exec "$central_bin" --db central.db --keys keys \
        serve --listen "$listen" --admin-token-file admin.token) >> "$work/central.log" 2>&1 &
    central_pid=$!
    wait_until 30 "central to listen" listened_more_than "${before:-0}"
}
logs+=("$work/central.log")
start_central 127.0.0.1:0
central_addr="$(grep -o 'tillpass-central listening.*' "$work/central.log" | tail -n 1 \
    | sed 's/.*=[[:space:]]*//')"
[ -n "$central_addr" ] || fail "no address in central's output"
step "central on $central_addr"
cat > "$work/central/catalog.toml" <<'CATALOG'
format = 1
currency = "EUR"
tiers = ["gold"]

[savings]
earn_rate = 500
return_window_days = 30
offline_redeem_cap = 2000

[gift_cards]
hold_ttl_seconds = 900
offline_cap_per_card = 5000
CATALOG
central catalog publish catalog.toml > "$work/catalog.log" 2>&1 \
    || { logs+=("$work/catalog.log"); fail "publishing the catalog"; }
code="$(central enrol-code --store S1 | grep -o '"code"[^,}]*' | sed 's/.*"\([^"]*\)"$/\1/')"
[ -n "$code" ] || fail "no enrolment code"

step "tillpass-install install --central http://$central_addr --enrol …"
logs+=("$work/enrol.log")
set +e
in_root tillpass-install install --central "http://$central_addr" --enrol "$code" \
    > "$work/enrol.log" 2>&1
enrolled=$?
set -e
# Everything but starting the unit: systemd does not run here, which install says.
grep -q 'enrolment: till' "$work/enrol.log" || fail "enrolment did not happen"
if [ "$enrolled" != 0 ]; then
    grep -q 'does not run systemd' "$work/enrol.log" || fail "install failed"
fi
for shadow in etc/systemd/system/tillpass.service etc/udev/rules.d/70-tillpass-scanners.rules \
    etc/sysusers.d/tillpass.conf etc/tmpfiles.d/tillpass.conf; do
    [ ! -e "$root/$shadow" ] || fail "install wrote /$shadow, which shadows the package's"
done
[ "$(stat -c '%a' "$root/etc/tillpass/till.key")" = 600 ] || fail "till.key is not 0600"

# ---- the agent, as tillpass.service runs it --------------------------------------------
api_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1)"
# A site setting, where the package's unit says site settings go.
mkdir -p "$root/etc/systemd/system/tillpass.service.d"
printf '[Service]\nEnvironment=TILLPASS_API_LISTEN=127.0.0.1:%s\n' "$api_port" \
    > "$root/etc/systemd/system/tillpass.service.d/site.conf"
token="$(cat "$root/etc/tillpass/api.token")"
api="http://127.0.0.1:$api_port"

# The unit as systemd loads it: the first of /etc, /run, /usr/lib, then its drop-ins.
unit_text() { in_root systemd-analyze cat-config systemd/system/tillpass.service; }
unit_values() { unit_text | sed -n "s/^$1=//p"; }

start_agent() {
    local log="$1"
    unit_text > "$work/unit-in-force"
    local user group groups exec umask_value
    user="$(unit_values User | tail -n 1)"
    group="$(unit_values Group | tail -n 1)"
    exec="$(unit_values ExecStart | tail -n 1)"
    umask_value="$(unit_values UMask | tail -n 1)"
    groups=""
    for g in $(unit_values SupplementaryGroups); do
        groups="${groups:+$groups,}$(in_root getent group "$g" | cut -d: -f3)"
    done
    local uid gid
    uid="$(in_root id -u "$user")"
    gid="$(in_root getent group "$group" | cut -d: -f3)"
    # LoadCredential=NAME:PATH → $CREDENTIALS_DIRECTORY/NAME, readable by the service only.
    local creds=/run/credentials/tillpass.service
    rm -rf "$root$creds"
    mkdir -p "$root$creds"
    unit_values LoadCredential | while IFS=: read -r name path; do
        install -m 0400 -o "$uid" -g "$gid" "$root$path" "$root$creds/$name"
    done
    chown "$uid:$gid" "$root$creds"
    chmod 0500 "$root$creds"
    local env=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
        STATE_DIRECTORY=/var/lib/$(unit_values StateDirectory | tail -n 1)
        CONFIGURATION_DIRECTORY=/etc/$(unit_values ConfigurationDirectory | tail -n 1)
        CREDENTIALS_DIRECTORY=$creds)
    while IFS= read -r assignment; do
        env+=("$assignment")
    done < <(unit_values Environment)
    (umask "${umask_value:-0022}"
        exec chroot --userspec="$uid:$gid" ${groups:+--groups="$groups"} "$root" \
            env -i "${env[@]}" $exec) > "$log" 2>&1 &
    agent_pid=$!
    logs+=("$log")
    wait_until 60 "the agent's /readyz" curl -fsS "$api/readyz"
}
stop_agent() {
    kill -TERM "$agent_pid"
    wait "$agent_pid" || true
    agent_pid=""
}

pos() {
    local method="$1" path="$2" key="$3" body="$4"
    curl -sS -X "$method" "$api$path" -H "Authorization: Bearer $token" \
        -H "Idempotency-Key: $key" -H 'Content-Type: application/json' -d "$body"
}
catalog_synced() {
    local sync
    sync="$(curl -fsS "$api/v1/sync" -H "Authorization: Bearer $token")"
    [[ "$sync" =~ \"catalog_sequence\":[0-9] ]]
}
outbox_empty() {
    local status
    status="$(curl -fsS "$api/v1/status" -H "Authorization: Bearer $token")"
    [[ "$status" == *'"outbox_depth":0'* ]]
}
# A sale of one loaf through the POS API: cart, then close paid by card. Prints the close.
sale() {
    local id="$1"
    local cart='{"cart":{"currency":"EUR","lines":[{"line_id":"1","sku":"BREAD",
        "category":"bakery","quantity":{"units":1},"unit_price":{"amount":250,"currency":"EUR"}}]}}'
    local put version
    put="$(pos PUT "/v1/sessions/$id" "$id-put" "$cart")"
    version="$(echo "$put" | grep -o '"version":[0-9]*' | head -n 1 | cut -d: -f2)"
    [ -n "$version" ] || fail "the cart of $id was refused: $put"
    pos POST "/v1/sessions/$id/close" "$id-close" \
        "{\"version\":$version,\"payments\":[{\"method\":\"card\",\"amount\":{\"amount\":250,\"currency\":\"EUR\"}}]}"
}

step "the agent as tillpass.service runs it, on $api"
start_agent "$work/agent-1.log"
[ "$(ps -o uid= -p "$agent_pid" | tr -d ' ')" = "$(in_root id -u tillpass)" ] \
    || fail "the agent does not run as the service user"
if grep -q '^{' "$work/agent-1.log"; then fail "the agent logs JSON before the unit asks for it"; fi

step "a sale through the POS API"
wait_until 60 "the catalog from central" catalog_synced
closed="$(sale S-1)"
[[ "$closed" == *'"receipt"'* ]] || fail "the sale did not close: $closed"
wait_until 60 "the sale to reach central" outbox_empty
logs+=("$work/doctor-enrolled.log")
in_root tillpass-install doctor > "$work/doctor-enrolled.log" 2>&1 \
    || fail "doctor fails an enrolled, running till"

# ---- upgrade to a rebuilt package with a changed unit ----------------------------------
step "rebuilding the package with a changed unit"
dpkg-deb -R "$deb" "$work/rebuilt"
version="$(sed -n 's/^Version: //p' "$work/rebuilt/DEBIAN/control")"
sed -i "s/^Version: .*/Version: $version+rebuilt1/" "$work/rebuilt/DEBIAN/control"
sed -i 's/^Environment=TILLPASS_LOG_FORMAT=journald$/Environment=TILLPASS_LOG_FORMAT=json/' \
    "$work/rebuilt/usr/lib/systemd/system/tillpass.service"
grep -q '^Environment=TILLPASS_LOG_FORMAT=json$' "$work/rebuilt/usr/lib/systemd/system/tillpass.service" \
    || fail "the unit of the rebuilt package did not change"
(cd "$work/rebuilt" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 md5sum) > "$work/rebuilt/DEBIAN/md5sums"
dpkg-deb --root-owner-group --build "$work/rebuilt" "$root/tmp/tillpass-rebuilt.deb" >/dev/null

step "apt-get install ./tillpass-rebuilt.deb (upgrade from $version)"
stop_agent # prerm's deb-systemd-invoke stop, under systemd
backups_before="$(ls "$root/var/lib/tillpass/backups" | wc -l)"
logs+=("$work/upgrade.log")
apt_in_root install --no-install-recommends /tmp/tillpass-rebuilt.deb > "$work/upgrade.log" 2>&1 \
    || fail "the upgrade"
grep -q "the database of $version is backed up to" "$work/upgrade.log" \
    || fail "the upgrade did not back up the database"
backup="$(sed -n "s/.*the database of $version is backed up to //p" "$work/upgrade.log" | tail -n 1)"
[ -s "$root$backup" ] || fail "the backup $backup is missing or empty"
[ "$(ls "$root/var/lib/tillpass/backups" | wc -l)" -gt "$backups_before" ] || fail "no new backup"
[[ "$(in_root dpkg-query -W -f='${Version}' tillpass)" == *rebuilt1 ]] || fail "not upgraded"
in_root dpkg --verify tillpass || fail "dpkg --verify after the upgrade"
# (Captured first: `grep -q` stopping early would fail the pipe under pipefail.)
unit_text > "$work/unit-after-upgrade"
grep -q '^Environment=TILLPASS_LOG_FORMAT=json$' "$work/unit-after-upgrade" \
    || fail "the upgraded unit is not the one in force (a copy shadows it?)"

step "the agent on the upgraded unit"
start_agent "$work/agent-2.log"
wait_until 30 "the agent's first log line" grep -q . "$work/agent-2.log"
grep -q '^{' "$work/agent-2.log" || fail "the changed unit did not take effect: logs are not JSON"
closed="$(sale S-2)"
[[ "$closed" == *'"receipt"'* ]] || fail "the sale after the upgrade did not close: $closed"
wait_until 60 "the second sale to reach central" outbox_empty

# ---- remove with unsynced sales, purge refused -----------------------------------------
step "remove while central is down and a sale waits"
kill "$central_pid"
wait "$central_pid" 2>/dev/null || true
central_pid=""
closed="$(sale S-3)"
[[ "$closed" == *'"receipt"'* ]] || fail "the offline sale did not close: $closed"
stop_agent
logs+=("$work/remove.log")
apt_in_root remove tillpass > "$work/remove.log" 2>&1 || fail "apt-get remove"
[ ! -e "$root/usr/bin/tillpass" ] || fail "remove left the agent binary"
[ ! -e "$root/usr/lib/systemd/system/tillpass.service" ] || fail "remove left the unit"
for kept in etc/tillpass/till.key etc/tillpass/api.token etc/tillpass/config.toml \
    var/lib/tillpass/tillpass.db var/lib/tillpass/enrolment.json; do
    [ -e "$root/$kept" ] || fail "remove deleted /$kept"
done
[ -f "$root/var/lib/tillpass/UNSYNCED" ] || fail "remove did not record the unsynced sale"

step "purge refuses while the sale has not reached central"
logs+=("$work/purge-refused.log")
if apt_in_root purge tillpass > "$work/purge-refused.log" 2>&1; then
    fail "purge deleted a till with an unsynced sale"
fi
grep -q 'REFUSING TO PURGE' "$work/purge-refused.log" || fail "the refusal does not say so"
grep -q '/var/lib/tillpass' "$work/purge-refused.log" || fail "the refusal does not name the paths"
grep -q 'until "tillpass status" shows' "$work/purge-refused.log" \
    || fail "the refusal does not say what to do"
[ -e "$root/etc/tillpass/till.key" ] && [ -e "$root/var/lib/tillpass/tillpass.db" ] \
    || fail "a refused purge deleted something"

# ---- reinstall, sync, remove, purge ---------------------------------------------------
step "reinstall, let the sale reach central, remove and purge"
start_central "$central_addr"
apt_in_root install --no-install-recommends /tmp/tillpass-rebuilt.deb > "$work/reinstall.log" 2>&1 \
    || { logs+=("$work/reinstall.log"); fail "the reinstall"; }
start_agent "$work/agent-3.log"
wait_until 60 "the offline sale to reach central" outbox_empty
stop_agent
apt_in_root remove tillpass > "$work/remove-2.log" 2>&1 || { logs+=("$work/remove-2.log"); fail "remove"; }
[ ! -e "$root/var/lib/tillpass/UNSYNCED" ] || fail "an empty outbox still blocks the purge"
logs+=("$work/purge.log")
apt_in_root purge tillpass > "$work/purge.log" 2>&1 || fail "purge"
for gone in etc/tillpass var/lib/tillpass usr/lib/systemd/system/tillpass.service \
    usr/lib/sysusers.d/tillpass.conf usr/lib/tmpfiles.d/tillpass.conf \
    usr/lib/udev/rules.d/70-tillpass-scanners.rules etc/sysusers.d/tillpass.conf \
    etc/tmpfiles.d/tillpass.conf etc/systemd/system/tillpass.service \
    etc/udev/rules.d/70-tillpass-scanners.rules etc/systemd/system/tillpass.service.d; do
    [ ! -e "$root/$gone" ] || fail "purge left /$gone"
done
status="$(in_root dpkg-query -W -f='${Status}' tillpass 2>/dev/null || true)"
[ -z "$status" ] || [[ "$status" == *not-installed ]] || fail "dpkg still knows tillpass: $status"
# The system account stays (Debian practice); nothing recreates it at boot.
in_root getent passwd tillpass >/dev/null || fail "purge removed the system user"

step "ok"

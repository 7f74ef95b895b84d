#!/usr/bin/env bash
# Owns the throwaway single-node Ceph (ceph-mon + one memstore ceph-osd + radosgw, cephx, no mgr) that the radosgw storage tests run against.
#
# Usage: bash test/s3/radosgw.sh start|stop|status|stop-gateway|start-gateway|remove-gateway
#   start          the whole cluster (mon, osd, radosgw "a"), from scratch
#   stop           every daemon this script started, then removes CEPH_DIR
#   status         exit 0 when mon, osd and radosgw "a" run and the endpoint answers
#   stop-gateway   stops only the radosgw daemon RGW_NAME (mon and osd keep running, data stays)
#   start-gateway  starts radosgw RGW_NAME on RGW_PORT against the running cluster and waits until it serves;
#                  a name other than "a" gets its own cephx key, so tests can run a private gateway to kill
#   remove-gateway stop-gateway, then forgets the cephx key and data dir of an extra gateway (not "a")
#   CEPH_DIR       working dir, removed by stop            (default /tmp/cups-ceph)
#   RGW_PORT       S3 endpoint http://127.0.0.1:RGW_PORT   (default 7480)
#   RGW_NAME       radosgw instance id for *-gateway       (default a; client.rgw.RGW_NAME)
#   MON_PORT       ceph-mon msgr2 port                     (default 3300)
#   START_TIMEOUT  seconds before start gives up           (default 120)
#
# Needs (Debian bookworm, Ceph 16.2 "Pacific"):
#   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
#     radosgw ceph-mon ceph-osd uuid-runtime curl
#
# The S3 user is access key TESTKEY, secret TESTSECRET. No bucket is created here: every test
# creates (and removes) its own bucket, so runs never see each other's objects.
#
# Why it looks like this (measured, see docs/ecosystem-notes.md §1 and Appendix A):
# - cephx, not `auth ... = none`: with none, radosgw fails get_initial_auth_request (-13) and hangs.
# - memstore OSD: no disks, no LVM, no systemd; everything lives in RAM and dies with the process.
# - no ceph-mgr: it costs ~300 MB and nothing here needs it.
# - beast tcp_nodelay=1: without it GET/LIST wait ~40 ms on delayed ACK.
# - daemons run in the foreground (-f) under setsid with their pids recorded by this script, so
#   stop kills exactly the processes start launched and nothing else.
set -euo pipefail

CEPH_DIR=${CEPH_DIR:-/tmp/cups-ceph}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-3300}
START_TIMEOUT=${START_TIMEOUT:-120}
RGW_NAME=${RGW_NAME:-a}
D=$CEPH_DIR
CONF=$D/ceph.conf
MARKER=$D/.cups-ceph   # stop only deletes a dir that this script created
RGW_URL=http://127.0.0.1:$RGW_PORT/

log() { printf '[radosgw.sh] %s\n' "$*" >&2; }

refuse_bad_rgw_name() {
  [[ $RGW_NAME =~ ^[a-z0-9]+$ ]] || { log "RGW_NAME must be lowercase letters and digits, got '$RGW_NAME'"; exit 2; }
}

refuse_dangerous_dir() {
  case "$D" in
    '' | / | /tmp | /tmp/ | "$HOME" | /root | /usr* | /etc* | /var | /var/) log "refusing CEPH_DIR=$D"; exit 2 ;;
  esac
}

# The pid is ours only if it still runs a ceph binary with our config file (guards against pid reuse).
is_our_pid() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

rgw_serves() {
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$RGW_URL" 2>/dev/null || true)
  [[ -n "$code" && "$code" != 000 ]]
}

stop_daemons() {
  local f pid name
  [[ -d $D/pids ]] || return 0
  for f in "$D"/pids/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    if is_our_pid "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  # Give them 10 s to exit cleanly, then KILL whatever of ours is left.
  for _ in $(seq 40); do
    local alive=0
    for f in "$D"/pids/*.pid; do
      [[ -e $f ]] || continue
      if is_our_pid "$(cat "$f")"; then alive=1; fi
    done
    ((alive)) || break
    sleep 0.25
  done
  for f in "$D"/pids/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    name=$(basename "$f" .pid)
    if is_our_pid "$pid"; then
      log "killing $name ($pid) with SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

cmd_stop() {
  refuse_dangerous_dir
  if [[ -e $D && ! -e $MARKER ]]; then
    log "$D exists but was not created by this script; not touching it"
    exit 2
  fi
  stop_daemons
  rm -rf "$D"
}

fail() {
  log "FAILED: $*"
  local f
  for f in "$D"/log/*; do
    [[ -s $f ]] || continue
    printf '\n----- tail of %s -----\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
  stop_daemons
  log "FAILED after $(elapsed): $* (logs kept in $D/log; the next start or stop removes them)"
  exit 1
}

START_EPOCH=$(date +%s)
deadline_passed() { (($(date +%s) - START_EPOCH >= START_TIMEOUT)); }
elapsed() { echo "$(($(date +%s) - START_EPOCH)) s"; }

# Launches a ceph daemon in the foreground, detached from our session, and records its pid.
launch() {
  local name=$1
  shift
  setsid "$@" -f </dev/null >"$D/log/$name.out" 2>&1 &
  echo $! >"$D/pids/$name.pid"
}

# Liveness of a daemon start just launched (is_our_pid would race the exec; a zombie counts as dead).
alive() {
  local pid state
  pid=$(cat "$D/pids/$1.pid")
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n $state && $state != Z ]]
}

ceph_cli() { timeout 15 ceph -c "$CONF" --connect-timeout 10 "$@"; }

cmd_start() {
  local tool
  for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool uuidgen curl setsid; do
    command -v "$tool" >/dev/null || { log "missing $tool; install: radosgw ceph-mon ceph-osd uuid-runtime curl"; exit 1; }
  done
  cmd_stop
  if rgw_serves; then log "something already answers on $RGW_URL; stop it first"; exit 1; fi

  mkdir -p "$D"/mon.a "$D"/osd.0 "$D"/log "$D"/rgw "$D"/pids
  touch "$MARKER"
  local fsid
  fsid=$(uuidgen)
  cat >"$CONF" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT/0
mon initial members = a
public addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth allow insecure global id reclaim = false
# one OSD: replicas of one, few PGs, no warnings about either
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
osd crush chooseleaf type = 0
run dir = $D
log file = $D/log/\$name.log
admin socket = $D/\$name.asok
keyring = $D/keyring
[mon]
mon data = $D/mon.\$id
[osd]
osd data = $D/osd.\$id
osd objectstore = memstore
memstore device bytes = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $D/rgw
CONF

  local k="$D/keyring"
  (
    umask 077
    ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  )
  ceph-authtool "$k" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$k" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  ceph-authtool "$k" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  monmaptool --create --add a "v2:127.0.0.1:$MON_PORT" --fsid "$fsid" "$D/monmap" >/dev/null

  ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$k" >"$D/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs"
  launch mon.a ceph-mon -c "$CONF" -i a
  until ceph_cli -s >/dev/null 2>&1; do
    alive mon.a || fail "ceph-mon exited"
    deadline_passed && fail "ceph-mon not answering after $(elapsed)"
    sleep 0.5
  done
  log "mon up after $(elapsed)"

  local osd_uuid osd_id secret
  osd_uuid=$(uuidgen)
  secret=$(ceph-authtool "$k" -n osd.0 -p)
  osd_id=$(ceph_cli osd new "$osd_uuid" -i <(printf '{"cephx_secret": "%s"}' "$secret")) || fail "ceph osd new"
  [[ $osd_id == 0 ]] || fail "expected osd id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$D/log/osd-mkfs.out" 2>&1 || fail "ceph-osd --mkfs"
  launch osd.0 ceph-osd -c "$CONF" -i 0
  until ceph_cli osd stat 2>/dev/null | grep -q '1 up'; do
    alive osd.0 || fail "ceph-osd exited"
    deadline_passed && fail "osd not up after $(elapsed)"
    sleep 0.5
  done
  log "osd up after $(elapsed)"

  launch rgw.a radosgw -c "$CONF" -n client.rgw.a
  until rgw_serves; do
    alive rgw.a || fail "radosgw exited"
    deadline_passed && fail "radosgw not serving $RGW_URL after $(elapsed)"
    sleep 0.5
  done
  log "radosgw serving after $(elapsed)"

  timeout 60 radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
    --access-key=TESTKEY --secret=TESTSECRET >"$D/log/user-create.out" 2>&1 || fail "radosgw-admin user create"
  log "ready in $(elapsed): $RGW_URL (TESTKEY/TESTSECRET)"
}

cmd_status() {
  local rc=0 name f
  if [[ ! -d $D/pids ]]; then
    log "stopped ($D absent)"
    exit 3
  fi
  for name in mon.a osd.0 rgw.a; do
    f=$D/pids/$name.pid
    if [[ -e $f ]] && is_our_pid "$(cat "$f")"; then
      log "$name running (pid $(cat "$f"))"
    else
      log "$name NOT running"
      rc=1
    fi
  done
  # Extra gateways started with start-gateway are reported but do not decide the status.
  for f in "$D"/pids/rgw.*.pid; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .pid)
    [[ $name == rgw.a ]] && continue
    if is_our_pid "$(cat "$f")"; then log "$name running (pid $(cat "$f"))"; else log "$name NOT running"; fi
  done
  if rgw_serves; then log "S3 endpoint $RGW_URL answers"; else
    log "S3 endpoint $RGW_URL does not answer"
    rc=1
  fi
  exit $rc
}

# mon and osd must be ours and running: the *-gateway commands never start or stop them.
require_cluster() {
  local name f
  if [[ ! -e $MARKER || ! -r $CONF ]]; then
    log "no cluster in $D; run: bash test/s3/radosgw.sh start"
    exit 3
  fi
  for name in mon.a osd.0; do
    f=$D/pids/$name.pid
    if [[ ! -e $f ]] || ! is_our_pid "$(cat "$f")"; then
      log "$name is not running; run: bash test/s3/radosgw.sh start"
      exit 3
    fi
  done
}

cmd_stop_gateway() {
  refuse_bad_rgw_name
  require_cluster
  local f=$D/pids/rgw.$RGW_NAME.pid pid
  if [[ ! -e $f ]]; then
    log "rgw.$RGW_NAME is not running"
    return 0
  fi
  pid=$(cat "$f")
  if is_our_pid "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 40); do
      is_our_pid "$pid" || break
      sleep 0.25
    done
    if is_our_pid "$pid"; then
      log "killing rgw.$RGW_NAME ($pid) with SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 40); do
        is_our_pid "$pid" || break
        sleep 0.05
      done
    fi
  fi
  rm -f "$f"
  log "rgw.$RGW_NAME stopped after $(elapsed); mon and osd still running"
}

# Forgets an extra gateway's cephx key and data dir, so per-test gateways do not pile up (the case below refuses "a").
forget_gateway() {
  local name=rgw.$RGW_NAME tmp
  ceph_cli auth del "client.$name" >/dev/null 2>&1 || log "could not delete the cephx key client.$name"
  tmp=$(mktemp "$D/keyring.XXXXXX")
  # Drop the [client.rgw.NAME] section (its header up to the next header); rename keeps the keyring whole for readers.
  awk -v header="[client.$name]" '/^\[/ { skip = ($0 == header) } !skip' "$D/keyring" >"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$D/keyring"
  rm -rf "${D:?}/$name" "$D/client.$name.asok" "$D/log/$name.out" "$D/log/client.$name.log"
}

cmd_start_gateway() {
  refuse_bad_rgw_name
  require_cluster
  local name=rgw.$RGW_NAME f
  f=$D/pids/$name.pid
  if [[ -e $f ]] && is_our_pid "$(cat "$f")"; then
    if rgw_serves; then
      log "$name already serving $RGW_URL"
      return 0
    fi
    log "$name runs (pid $(cat "$f")) but $RGW_URL does not answer; is RGW_PORT right?"
    exit 1
  fi
  if rgw_serves; then log "something already answers on $RGW_URL; stop it first"; exit 1; fi
  if ! grep -qF "[client.$name]" "$D/keyring"; then
    # A daemon of its own needs its own cephx identity (two radosgw with one name would share an admin socket).
    ceph_cli auth get-or-create "client.$name" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >>"$D/keyring" || {
      log "could not create the cephx key client.$name"
      exit 1
    }
  fi
  local data=$D/$name
  [[ $RGW_NAME == a ]] && data=$D/rgw
  mkdir -p "$data"
  # Frontend and data dir on the command line: only client.rgw.a has a section in ceph.conf.
  launch "$name" radosgw -c "$CONF" -n "client.$name" \
    --rgw-frontends "beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1" --rgw-data "$data"
  until rgw_serves; do
    if ! alive "$name"; then
      log "radosgw $name exited; tail of $D/log/$name.out:"
      tail -n 25 "$D/log/$name.out" >&2 || true
      rm -f "$f"
      exit 1
    fi
    if deadline_passed; then
      log "$name not serving $RGW_URL after $(elapsed)"
      exit 1
    fi
    sleep 0.2
  done
  log "$name serving $RGW_URL after $(elapsed)"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  stop-gateway) cmd_stop_gateway ;;
  remove-gateway)
    if [[ $RGW_NAME == a ]]; then
      log "remove-gateway is for extra gateways; rgw.a belongs to start/stop (use stop-gateway to stop it)"
      exit 2
    fi
    cmd_stop_gateway
    forget_gateway
    ;;
  start-gateway) cmd_start_gateway ;;
  *)
    echo "usage: $0 start|stop|status|stop-gateway|start-gateway|remove-gateway" >&2
    exit 2
    ;;
esac

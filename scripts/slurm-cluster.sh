#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for dancenow's tests and for contributors.
#
# Debian 12 packages (Slurm 22.05, munge, slurmdbd + MariaDB), run as root without systemd:
# munged -> mariadbd -> slurmdbd -> slurmctld -> slurmd, fake GPU GRES, one partition `debug`.
#
#   bash scripts/slurm-cluster.sh install   # apt packages; a no-op when the daemons are already installed
#   bash scripts/slurm-cluster.sh start     # (re)start a FRESH cluster; returns once a test job is COMPLETED in sacct
#   bash scripts/slurm-cluster.sh stop      # cancel jobs, stop every daemon by its pid file, wait until gone
#   bash scripts/slurm-cluster.sh status    # daemons + sinfo; exit 0 only when the cluster answers
# or:  source scripts/slurm-cluster.sh; slurm_cluster_start; ...; slurm_cluster_stop
#
# Knobs (environment; the names avoid Slurm's own SLURM_* variables):
#   DANCENOW_SLURM_CPUS     CPUs of the node (default: nproc, at least 4). May exceed the real cores
#                           (config_overrides), so 2-task jobs plus a driver job fit on a 2-core CI machine.
#   DANCENOW_SLURM_GPUS     fake GPUs as GRES gpu (default 2; 0 disables). Jobs get CUDA_VISIBLE_DEVICES, no GPU.
#   DANCENOW_SLURM_MEM_MB   RealMemory of the node in MB (default: MemTotal - 1 GiB, at least 1 GiB per CPU).
#   DANCENOW_SLURM_TIMEOUT  seconds to wait for each step (default 30).
#   DANCENOW_SLURM_REQUEUE_S  seconds a requeued job waits before it may start again (default 10; Slurm's own
#                           default is 120: AuthInfo=cred_expire, which is also the job step credential lifetime).
#   SLURM_CPUS, SLURM_GPUS  accepted as fallbacks, but beware: srun itself reads SLURM_GPUS (= --gpus), so a shell
#                           that exports it makes every srun step, submitit's included, ask for that many GPUs.
#                           Give it on the command line only: SLURM_GPUS=4 bash scripts/slurm-cluster.sh start
# On failure the script prints the tails of /var/log/slurm/*.log (this start's logs; the previous start's are kept
# as *.log.old), leaves what did start running for inspection, and exits non-zero.
#
# Design facts (measured; see ../shared/slurm/README.md):
# - Accounting is always on. submitit polls job states with `sacct`; without slurmdbd a job cancelled before it
#   writes its result makes `job.result()` hang forever. With it, result() raises UncompletedJobError (~15 s).
# - Fake GPUs must be character devices or slurmd rejects the gres.conf.
# - `SchedulerParameters=batch_sched_delay=0,sched_min_interval=0` cuts the scheduling delay from ~3 s to ~1 s.
# - A requeued job (submitit requeues on a time limit or preemption) may start again only after cred_expire
#   (default 120 s), and then waits for the main scheduler's periodic pass (sched_interval, default 60 s): with
#   cred_expire=10 and sched_interval=2 it restarts ~12 s after the requeue. Time limits and their warning signals
#   (--signal=USR2@N) are checked only every ~30 s, so the signal comes up to 30 s before its nominal time.
# - Every `start` is a fresh cluster: it stops whatever runs, then wipes the controller state, the slurmd spool
#   and the accounting database. Job ids restart at 1 (use a fresh submitit folder per run), and sacct never sees
#   two jobs with the same id from different runs (old rows would otherwise come back under `sacct -j ID`).

_SLURM_CLUSTER_NAME=dancenow
_SLURM_CLUSTER_LOGDIR=/var/log/slurm
_SLURM_CLUSTER_CTLD_STATE=/var/spool/slurm/ctld
_SLURM_CLUSTER_D_SPOOL=/var/spool/slurm/d
_SLURM_CLUSTER_DB=slurm_acct_db

# daemon name -> pid file (stop order is the reverse of start order)
_SLURM_CLUSTER_DAEMONS="munged mariadbd slurmdbd slurmctld slurmd"
_slurm_cluster_pidfile() {
  case "$1" in
    munged) echo /run/munge/munged.pid ;;
    mariadbd) echo /run/mysqld/mysqld.pid ;;
    slurmdbd) echo /run/slurmdbd.pid ;;
    slurmctld) echo /run/slurmctld.pid ;;
    slurmd) echo /run/slurmd.pid ;;
  esac
}

_slurm_cluster_say() { echo "slurm-cluster: $*"; }

_slurm_cluster_need_root() {
  [ "$(id -u)" = 0 ] || { echo "slurm-cluster: FAILED: must run as root (daemons run as root, no systemd)" >&2; return 1; }
}

_slurm_cluster_knobs() {  # resolve and check the knobs into _SC_CPUS _SC_GPUS _SC_MEM _SC_TIMEOUT _SC_REQUEUE
  local k v nproc_ mem
  nproc_=$(nproc)
  _SC_CPUS=${DANCENOW_SLURM_CPUS:-${SLURM_CPUS:-$((nproc_ > 4 ? nproc_ : 4))}}
  _SC_GPUS=${DANCENOW_SLURM_GPUS:-${SLURM_GPUS:-2}}
  _SC_TIMEOUT=${DANCENOW_SLURM_TIMEOUT:-30}
  _SC_REQUEUE=${DANCENOW_SLURM_REQUEUE_S:-10}
  for k in "CPUs=$_SC_CPUS" "GPUs=$_SC_GPUS" "timeout=$_SC_TIMEOUT" "MEM_MB=${DANCENOW_SLURM_MEM_MB-0}" \
    "REQUEUE_S=$_SC_REQUEUE"; do
    v=${k#*=}
    case "$v" in '' | *[!0-9]*) echo "slurm-cluster: FAILED: ${k%%=*} must be a non-negative integer, not '$v'" >&2; return 1 ;; esac
  done
  [ "$_SC_CPUS" -ge 1 ] || { echo "slurm-cluster: FAILED: the node needs at least 1 CPU" >&2; return 1; }
  mem=$(($(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 1024))
  [ "$mem" -ge $((_SC_CPUS * 1024)) ] || mem=$((_SC_CPUS * 1024))  # DefMemPerCPU=1024
  _SC_MEM=${DANCENOW_SLURM_MEM_MB:-$mem}
}

_slurm_cluster_fail() {  # message; prints the tails of this start's daemon logs; returns 1
  local f
  echo "slurm-cluster: FAILED: $*" >&2
  for f in "$_SLURM_CLUSTER_LOGDIR"/*.log; do
    [ -s "$f" ] || continue
    echo "----- tail of $f -----" >&2
    tail -n 25 "$f" >&2
  done
  echo "slurm-cluster: FAILED: $* (log tails above)" >&2
  return 1
}

_slurm_cluster_wait() {  # seconds command...: poll every 0.2 s until the command succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

_slurm_cluster_pid() {  # daemon: print its pid if its pid file names a live process of that name
  local pidfile pid comm
  pidfile=$(_slurm_cluster_pidfile "$1")
  [ -s "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$1" ] || return 1  # a stale pid file whose pid was reused
  case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z* | "") return 1 ;; esac
  echo "$pid"
}

_slurm_cluster_gone() { ! ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }

_slurm_cluster_kill() {  # daemon: SIGTERM by pid file, wait until gone (SIGKILL after 15 s), drop the pid file
  local pid pidfile
  pidfile=$(_slurm_cluster_pidfile "$1")
  if pid=$(_slurm_cluster_pid "$1"); then
    kill -TERM "$pid" 2>/dev/null || true
    if ! _slurm_cluster_wait 15 _slurm_cluster_gone "$pid"; then
      echo "slurm-cluster: $1 (pid $pid) still alive after 15 s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      _slurm_cluster_wait 5 _slurm_cluster_gone "$pid" || { echo "slurm-cluster: $1 (pid $pid) will not die" >&2; return 1; }
    fi
    _slurm_cluster_say "stopped $1 (pid $pid)"
  fi
  rm -f "$pidfile"
}

_slurm_cluster_running() {  # true when any of our daemons is alive
  local d
  for d in $_SLURM_CLUSTER_DAEMONS; do _slurm_cluster_pid "$d" >/dev/null && return 0; done
  return 1
}

slurm_cluster_install() {
  local PATH="/usr/sbin:/sbin:$PATH"  # daemons and admin tools live in sbin
  _slurm_cluster_need_root || return 1
  local d missing=""
  for d in slurmctld slurmd slurmdbd munged mariadbd; do
    command -v "$d" >/dev/null 2>&1 || missing="$missing $d"
  done
  if [ -z "$missing" ]; then
    _slurm_cluster_say "packages already installed"
    return 0
  fi
  _slurm_cluster_say "installing packages (missing:$missing)"
  export DEBIAN_FRONTEND=noninteractive
  # package scripts must not start services (no systemd here): a policy-rc.d that says no, only while we install
  local own_policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge slurmdbd mariadb-server || rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { echo "slurm-cluster: FAILED: apt-get ($rc)" >&2; return 1; }
  _slurm_cluster_say "packages installed"
}

slurm_cluster_write_config() {
  local host cpus gpus mem i
  _slurm_cluster_knobs || return 1
  host=$(hostname -s) cpus=$_SC_CPUS gpus=$_SC_GPUS mem=$_SC_MEM
  mkdir -p /etc/slurm "$_SLURM_CLUSTER_CTLD_STATE" "$_SLURM_CLUSTER_D_SPOOL" "$_SLURM_CLUSTER_LOGDIR"

  local node="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"
  [ "$gpus" -gt 0 ] && node="$node Gres=gpu:$gpus"
  cat >/etc/slurm/slurm.conf <<EOF
# written by dancenow scripts/slurm-cluster.sh; rewritten on every start
ClusterName=$_SLURM_CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job (timeout, preemption) may start again after cred_expire seconds
AuthInfo=cred_expire=$_SC_REQUEUE
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
# no cgroups in containers / CI
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2
KillWait=2
ReturnToService=2
# the node may claim more CPUs than the machine has
SlurmdParameters=config_overrides
StateSaveLocation=$_SLURM_CLUSTER_CTLD_STATE
SlurmdSpoolDir=$_SLURM_CLUSTER_D_SPOOL
SlurmctldPidFile=$(_slurm_cluster_pidfile slurmctld)
SlurmdPidFile=$(_slurm_cluster_pidfile slurmd)
SlurmctldLogFile=$_SLURM_CLUSTER_LOGDIR/slurmctld.log
SlurmdLogFile=$_SLURM_CLUSTER_LOGDIR/slurmd.log
JobCompType=jobcomp/none
# accounting: submitit needs sacct
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
$([ "$gpus" -gt 0 ] && echo "GresTypes=gpu" && echo "AccountingStorageTRES=gres/gpu")
$node
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

  if [ "$gpus" -gt 0 ]; then
    # fake GPUs: character devices (same numbers as /dev/null); slurmd refuses regular files
    for i in $(seq 0 $((gpus - 1))); do
      [ -c "/dev/fakegpu$i" ] || { rm -f "/dev/fakegpu$i" && mknod -m 666 "/dev/fakegpu$i" c 1 3; } || return 1
    done
    printf 'AutoDetect=off\nNodeName=%s Name=gpu File=/dev/fakegpu[0-%d]\n' "$host" $((gpus - 1)) >/etc/slurm/gres.conf
  else
    rm -f /etc/slurm/gres.conf
  fi

  cat >/etc/slurm/slurmdbd.conf <<EOF
# written by dancenow scripts/slurm-cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=$_SLURM_CLUSTER_DB
LogFile=$_SLURM_CLUSTER_LOGDIR/slurmdbd.log
PidFile=$(_slurm_cluster_pidfile slurmdbd)
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  _slurm_cluster_say "wrote /etc/slurm/{slurm,gres,slurmdbd}.conf (node $host: $cpus CPUs, ${mem} MB, $gpus fake GPUs)"
}

_slurm_cluster_node_idle() { [ "$(sinfo -h -n "$(hostname -s)" -o %T 2>/dev/null)" = idle ]; }
_slurm_cluster_no_jobs() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }
_slurm_cluster_job_completed() { [ "$(sacct -n -X -P -o State -j "$1" 2>/dev/null)" = COMPLETED ]; }

slurm_cluster_start() {
  local PATH="/usr/sbin:/sbin:$PATH"  # daemons and admin tools live in sbin
  _slurm_cluster_need_root || return 1
  local t0=$SECONDS timeout host jid d f
  host=$(hostname -s)
  for d in $_SLURM_CLUSTER_DAEMONS; do
    command -v "$d" >/dev/null 2>&1 ||
      { echo "slurm-cluster: FAILED: $d not installed; run: bash scripts/slurm-cluster.sh install" >&2; return 1; }
  done
  _slurm_cluster_knobs || return 1
  timeout=$_SC_TIMEOUT
  if _slurm_cluster_running; then
    _slurm_cluster_say "a cluster is running: stopping it first (every start is fresh)"
    slurm_cluster_stop || return 1
  fi
  for d in $_SLURM_CLUSTER_DAEMONS; do rm -f "$(_slurm_cluster_pidfile "$d")"; done  # stale ones: nothing is alive
  slurm_cluster_write_config || return 1
  # fresh state: no old jobs, job ids restart at 1; the previous start's logs move to *.log.old
  rm -rf "${_SLURM_CLUSTER_CTLD_STATE:?}"/* "${_SLURM_CLUSTER_D_SPOOL:?}"/*
  for f in "$_SLURM_CLUSTER_LOGDIR"/*.log; do [ -e "$f" ] && mv -f "$f" "$f.old"; done

  # munge: the package's postinst makes a key; make one if it is missing
  if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile=/etc/munge/munge.key || return 1; fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged --force || _slurm_cluster_fail "munged did not start" || return 1
  _slurm_cluster_wait "$timeout" sh -c 'munge -n </dev/null | unmunge' || _slurm_cluster_fail "munge does not answer" || return 1
  _slurm_cluster_say "munged up (pid $(_slurm_cluster_pid munged))"

  # mariadbd has no daemon mode: detach it; it writes its pid file itself. Unix socket only.
  install -d -o mysql -g root -m 0755 /run/mysqld
  setsid /usr/sbin/mariadbd --user=mysql --skip-networking --innodb-lock-wait-timeout=900 \
    </dev/null >>"$_SLURM_CLUSTER_LOGDIR/mariadb.log" 2>&1 &
  _slurm_cluster_wait "$timeout" mariadb-admin ping || _slurm_cluster_fail "mariadbd does not answer" || return 1
  mariadb -e "DROP DATABASE IF EXISTS $_SLURM_CLUSTER_DB" || _slurm_cluster_fail "could not reset $_SLURM_CLUSTER_DB" || return 1
  _slurm_cluster_say "mariadbd up (pid $(_slurm_cluster_pid mariadbd)), accounting database reset"

  /usr/sbin/slurmdbd || _slurm_cluster_fail "slurmdbd did not start" || return 1
  _slurm_cluster_wait "$timeout" sacctmgr -n -P show cluster || _slurm_cluster_fail "slurmdbd does not answer" || return 1
  _slurm_cluster_say "slurmdbd up (pid $(_slurm_cluster_pid slurmdbd))"

  /usr/sbin/slurmctld || _slurm_cluster_fail "slurmctld did not start" || return 1
  _slurm_cluster_wait "$timeout" scontrol ping || _slurm_cluster_fail "slurmctld does not answer" || return 1
  _slurm_cluster_say "slurmctld up (pid $(_slurm_cluster_pid slurmctld))"

  /usr/sbin/slurmd -N "$host" || _slurm_cluster_fail "slurmd did not start" || return 1
  _slurm_cluster_wait "$timeout" _slurm_cluster_node_idle ||
    { sinfo -N -l >&2; _slurm_cluster_fail "node $host not idle"; return 1; }
  _slurm_cluster_say "slurmd up (pid $(_slurm_cluster_pid slurmd)), node $host idle"

  # end to end: one job through the scheduler and into the accounting database
  jid=$(sbatch --parsable -p debug -o /dev/null --wrap true) || _slurm_cluster_fail "sbatch failed" || return 1
  _slurm_cluster_wait "$timeout" _slurm_cluster_job_completed "$jid" ||
    _slurm_cluster_fail "test job $jid not COMPLETED in sacct (sacct says: $(sacct -n -X -P -o State -j "$jid" 2>&1))" ||
    return 1
  _slurm_cluster_say "ready in $((SECONDS - t0)) s (test job $jid COMPLETED in sacct; partition debug)"
}

slurm_cluster_stop() {
  local PATH="/usr/sbin:/sbin:$PATH"  # daemons and admin tools live in sbin
  _slurm_cluster_need_root || return 1
  local jobs=() d rc=0 stop_order=""
  if _slurm_cluster_pid slurmctld >/dev/null; then
    mapfile -t jobs < <(squeue -h -o %i 2>/dev/null)
    if [ "${#jobs[@]}" -gt 0 ]; then
      _slurm_cluster_say "cancelling jobs: ${jobs[*]}"
      scancel "${jobs[@]}" 2>/dev/null || true
      _slurm_cluster_wait 20 _slurm_cluster_no_jobs || echo "slurm-cluster: jobs still listed after 20 s" >&2
    fi
  fi
  for d in $_SLURM_CLUSTER_DAEMONS; do stop_order="$d $stop_order"; done
  for d in $stop_order; do _slurm_cluster_kill "$d" || rc=1; done
  [ "$rc" = 0 ] || { _slurm_cluster_fail "some daemons did not stop"; return 1; }
  _slurm_cluster_say "stopped"
}

slurm_cluster_status() {
  local PATH="/usr/sbin:/sbin:$PATH"  # daemons and admin tools live in sbin
  local d pid rc=0
  for d in $_SLURM_CLUSTER_DAEMONS; do
    if pid=$(_slurm_cluster_pid "$d"); then
      _slurm_cluster_say "$d running (pid $pid)"
    else
      _slurm_cluster_say "$d not running"
      rc=1
    fi
  done
  if [ "$rc" = 0 ] && sinfo >/dev/null 2>&1; then
    sinfo
  else
    rc=1
  fi
  return "$rc"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  case "${1:-}" in
    install) slurm_cluster_install ;;
    start) slurm_cluster_start ;;
    stop) slurm_cluster_stop ;;
    status) slurm_cluster_status ;;
    *) echo "usage: bash $0 install|start|stop|status" >&2; exit 2 ;;
  esac
fi

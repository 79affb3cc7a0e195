#!/usr/bin/env bash
# Start a real one-node SLURM cluster on localhost (Debian 12, root, no systemd).
#
#   sudo .ci/slurm/start_slurm.sh            # install + configure + start + verify
#   SLURM_START_TIMEOUT=180 .ci/slurm/start_slurm.sh
#   .ci/slurm/stop_slurm.sh                  # stop the daemons again
#
# What it does (idempotent: safe to run any number of times):
#   1. installs Debian's slurm-wlm and munge if a binary is missing;
#   2. writes /etc/slurm/slurm.conf for ONE node = `hostname -s`, with the
#      CPU/socket/core/thread layout and RealMemory measured by `slurmd -C`,
#      and one partition `debug` (Default=YES);
#   3. makes sure the munge key exists, starts munged, slurmctld, slurmd
#      (restarts slurmctld/slurmd when slurm.conf changed or a daemon is gone);
#   4. waits (SLURM_START_TIMEOUT s, default 120) until `sinfo` reports the
#      node idle and `srun hostname` works; exits non-zero with a clear message
#      and the daemon log tails otherwise.
#
# Why no slurmdbd / MariaDB (accounting):
#   snakemake-executor-plugin-slurm (2.x) polls job states with `sacct` by
#   default, but it has an `squeue` mode (`slurm-status-command: squeue` in
#   workflow/profiles/slurm/config.yaml) that runs
#   `squeue --states=all --name <run-uuid>`.  That only sees finished jobs
#   while slurmctld still keeps them in memory, i.e. for MinJobAge seconds, and
#   the plugin itself only honours `squeue` when MinJobAge >= 3 x
#   init-seconds-before-status-checks (otherwise it silently goes back to
#   `sacct`).  So we set MinJobAge=3600 and AccountingStorageType=none: no
#   database, no slurmdbd, two daemons fewer to install and keep alive.
#   Without accounting the plugin cannot guess an account (it logs "Unable to
#   guess SLURM account. Trying to proceed without.") and submits without -A,
#   which is exactly right here -- so the profile must NOT set slurm_account
#   (validating an account needs sacctmgr -> slurmdbd).
#   JobCompType=jobcomp/filetxt keeps a plain-text record of every finished
#   job (/var/log/slurm/job_completions.log) so CI can prove that jobs really
#   went through sbatch.
set -euo pipefail

TIMEOUT="${SLURM_START_TIMEOUT:-120}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
LOG_DIR=/var/log/slurm
CTLD_SPOOL=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
PARTITION=debug
T0=$(date +%s)

log() { echo "[start_slurm $(($(date +%s) - T0))s] $*" >&2; }

diagnostics() {
  echo "----- diagnostics -----" >&2
  for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
    if [[ -f $f ]]; then
      echo "--- tail $f" >&2
      tail -n 25 "$f" >&2 || true
    fi
  done
  if command -v sinfo >/dev/null; then
    echo "--- sinfo -N -l" >&2
    timeout 10 sinfo -N -l >&2 2>&1 || true
    echo "--- scontrol show node" >&2
    timeout 10 scontrol show node >&2 2>&1 || true
  fi
  echo "-----------------------" >&2
}

die() {
  echo "[start_slurm] ERROR: $*" >&2
  diagnostics
  echo "[start_slurm] ERROR: the local SLURM cluster did NOT come up: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, starts daemons)"

# ---------------------------------------------------------------- 1. install
need_install=0
for b in slurmctld slurmd sinfo sbatch srun squeue scontrol munged munge unmunge; do
  command -v "$b" >/dev/null 2>&1 || need_install=1
done
if [[ $need_install -eq 1 ]]; then
  log "installing slurm-wlm munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
  log "installed: $(dpkg-query -W -f='${Package} ${Version}; ' slurm-wlm munge)"
else
  log "slurm-wlm and munge already installed"
fi

# ---------------------------------------------------------------- 2. config
NODE=$(hostname -s)
[[ -n $NODE ]] || die "hostname -s is empty"
# Make sure the node name resolves to this machine (CI containers sometimes
# have a hostname that is missing from /etc/hosts).
if ! getent hosts "$NODE" >/dev/null 2>&1; then
  log "adding '$NODE' to /etc/hosts"
  echo "127.0.0.1 $NODE" >>/etc/hosts
fi

# `slurmd -C` prints e.g.
#   NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
HW=$(slurmd -C 2>/dev/null | head -n 1) || true
field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS=$(field CPUs); BOARDS=$(field Boards); SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket); THREADS=$(field ThreadsPerCore); MEM=$(field RealMemory)
if [[ -z $CPUS || -z $MEM || -z $SOCKETS || -z $CORES || -z $THREADS ]]; then
  log "slurmd -C gave '$HW'; falling back to nproc / /proc/meminfo"
  CPUS=$(nproc); BOARDS=1; SOCKETS=1; CORES=$CPUS; THREADS=1
  MEM=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
fi
BOARDS=${BOARDS:-1}
# Leave a little memory to the OS/daemons so the node never registers with
# less memory than configured (that would drain it: "Low RealMemory").
MEM=$((MEM * 95 / 100))
log "node $NODE: CPUs=$CPUS sockets=$SOCKETS cores/socket=$CORES threads/core=$THREADS RealMemory=${MEM}MB"

NEW_CONF=$(mktemp)
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
# Written by .ci/slurm/start_slurm.sh -- one-node SLURM cluster on localhost.
# Re-running the script rewrites this file (and restarts the daemons if it changed).
ClusterName=werkland
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
# no mail on a CI box (the default /bin/mail is not installed)
MailProg=/bin/true
# no cgroups (containers / no systemd): plain /proc based process tracking
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No accounting database (no slurmdbd): the snakemake plugin uses squeue for
# job status, which needs finished jobs to stay visible -> large MinJobAge.
AccountingStorageType=accounting_storage/none
MinJobAge=3600
MaxJobCount=20000
# plain-text record of every finished job (proof that jobs went through sbatch)
JobCompType=jobcomp/filetxt
JobCompLoc=${LOG_DIR}/job_completions.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
# schedule by CPU + memory so two 1-CPU jobs share the node
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1000
# a node that was DOWN (e.g. daemons restarted) comes back by itself
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
StateSaveLocation=${CTLD_SPOOL}
SlurmdSpoolDir=${SLURMD_SPOOL}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=60
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=${NODE} NodeAddr=127.0.0.1 NodeHostname=${NODE} CPUs=${CPUS} Boards=${BOARDS} SocketsPerBoard=${SOCKETS} CoresPerSocket=${CORES} ThreadsPerCore=${THREADS} RealMemory=${MEM} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF

mkdir -p "$CONF_DIR" "$LOG_DIR" "$CTLD_SPOOL" "$SLURMD_SPOOL"
chown slurm:slurm "$LOG_DIR" "$CTLD_SPOOL"
chmod 0755 "$LOG_DIR" "$CTLD_SPOOL" "$SLURMD_SPOOL"
touch "$LOG_DIR/job_completions.log"
chown slurm:slurm "$LOG_DIR/job_completions.log"

conf_changed=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
  log "writing $CONF"
  install -m 0644 "$NEW_CONF" "$CONF"
  conf_changed=1
else
  log "$CONF unchanged"
fi

# ---------------------------------------------------------------- 3. daemons
# true if the daemon started at epoch $3 has died: its pid file is missing or
# stale once a 10 s grace period is over (daemons write the pid file only after
# forking into the background)
daemon_died() { # pidfile, name, start epoch
  (($(date +%s) - $3 >= 10)) && ! pid_alive "$1" "$2"
}

pid_alive() { # pidfile, expected process name
  local pid
  [[ -f $1 ]] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null \
    && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

stop_by_pidfile() { # pidfile, name
  local pid
  pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  log "stopping $2 (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$2 (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# munge
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating munge key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
fi
chown -R munge:munge /etc/munge
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running"
else
  log "starting munged"
  # --force: remove a stale socket left behind by a killed munged
  runuser -u munge -- /usr/sbin/munged --force \
    || die "munged failed to start (see /var/log/munge/munged.log)"
  for _ in $(seq 1 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.2
  done
  munge -n | unmunge >/dev/null 2>&1 || die "munge credential round trip fails"
fi

if [[ $conf_changed -eq 1 ]]; then
  stop_by_pidfile "$SLURMD_PID" slurmd
  stop_by_pidfile "$CTLD_PID" slurmctld
fi

if pid_alive "$CTLD_PID" slurmctld; then
  log "slurmctld already running (pid $(cat "$CTLD_PID"))"
else
  log "starting slurmctld"
  rm -f "$CTLD_PID"
  /usr/sbin/slurmctld || die "slurmctld failed to start"
fi
ctld_started=$(date +%s)

# wait for the controller before starting slurmd (it registers with it)
deadline=$((T0 + TIMEOUT))
until timeout 5 scontrol ping 2>/dev/null | grep -q "is UP"; do
  (($(date +%s) < deadline)) || die "slurmctld not answering 'scontrol ping' after ${TIMEOUT}s"
  daemon_died "$CTLD_PID" slurmctld "$ctld_started" && die "slurmctld is not running (exited after start?)"
  sleep 1
done

if pid_alive "$SLURMD_PID" slurmd; then
  log "slurmd already running (pid $(cat "$SLURMD_PID"))"
else
  log "starting slurmd"
  rm -f "$SLURMD_PID"
  /usr/sbin/slurmd -N "$NODE" || die "slurmd failed to start"
fi
slurmd_started=$(date +%s)

# ---------------------------------------------------------------- 4. verify
log "waiting for node $NODE to become idle in partition $PARTITION"
resumed=0
while :; do
  state=$(timeout 5 sinfo -h -p "$PARTITION" -n "$NODE" -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle | mixed | allocated | completing) break ;;
    down* | drain* | fail*)
      # e.g. a DOWN state saved by a previous slurmctld: resume once
      if [[ $resumed -eq 0 ]]; then
        log "node state '$state' -> scontrol update state=resume"
        scontrol update nodename="$NODE" state=resume 2>/dev/null || true
        resumed=1
      fi
      ;;
  esac
  (($(date +%s) < deadline)) || die "node $NODE is '${state:-not listed}' instead of idle after ${TIMEOUT}s"
  daemon_died "$SLURMD_PID" slurmd "$slurmd_started" && die "slurmd is not running (exited after start?)"
  sleep 1
done
log "node $NODE is $state"

left=$((deadline - $(date +%s)))
((left > 10)) || left=10
out=$(timeout "$left" srun -p "$PARTITION" -N 1 -n 1 -t 1 hostname 2>&1) \
  || die "'srun hostname' failed: $out"
log "srun hostname -> $out"

sinfo >&2
log "SLURM cluster is up (node $NODE, partition $PARTITION) in $(($(date +%s) - T0))s"

#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by .ci/slurm/start_slurm.sh.
#
#   .ci/slurm/stop_slurm.sh            # stop slurmd, slurmctld, munged
#   .ci/slurm/stop_slurm.sh --purge    # also forget saved controller state
#                                      # (queued/finished jobs) and logs
#
# Daemons are stopped by the pid in their pid file only (never by name), so
# nothing else on the machine is touched.  Packages and /etc/slurm/slurm.conf
# stay in place; start_slurm.sh brings everything back.
set -euo pipefail

PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1

log() { echo "[stop_slurm] $*" >&2; }

stop_pid() { # pid, name
  local pid=$1 name=$2
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # only signal the process if it really is the daemon we expect
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}

stop_pidfile() { # pidfile, name
  [[ -f $1 ]] || { log "$2 not running (no $1)"; return 0; }
  stop_pid "$(cat "$1" 2>/dev/null)" "$2"
  rm -f "$1"
}

stop_pidfile /run/slurmd.pid slurmd
stop_pidfile /run/slurmctld.pid slurmctld
# munged writes its pid file next to its socket
stop_pidfile /run/munge/munged.pid munged

if [[ $PURGE -eq 1 ]]; then
  log "purging /var/spool/slurmctld, /var/spool/slurmd and /var/log/slurm/*"
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi
log "done"

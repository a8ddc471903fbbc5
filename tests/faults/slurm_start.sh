#!/usr/bin/env bash
# A throwaway one-node Slurm cluster (munged + slurmctld + slurmd) for the Slurm system test.
#   tests/faults/slurm_start.sh [start]   everything under a new /tmp/ablate-slurm.XXXXXX: a generated munge key
#                                         and socket, slurm.conf (free ports, no cgroups, no accounting), state,
#                                         spool, logs, pid files. Waits until `sinfo` shows the node idle, then
#                                         prints the lines to eval:
#                                           export SLURM_CONF=DIR/slurm.conf
#                                           export ABLATE_TEST_SLURM=DIR
#   tests/faults/slurm_start.sh stop DIR  kills the daemons by their pid files and removes DIR
# Installs nothing (Debian: apt-get install slurm-wlm munge) and needs no /etc/slurm or /etc/munge: every
# command reads SLURM_CONF. Fails (exit 1, the reason on stderr, nothing left running) where it cannot start.
# Run as root (as CI does): slurmd starts job steps as the submitting user, and munged then runs as `munge`.
set -euo pipefail

stop() {
  local dir=$1 pidfile pid
  [ -d "$dir" ] || return 0
  # the jobs first, while slurmctld can still end them (their scripts and workers outlive slurmd otherwise)
  if [ -f "$dir/slurm.conf" ] && command -v squeue >/dev/null 2>&1; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      [ -z "$(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2
    done
  fi
  for pidfile in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # whatever is left of this cluster's jobs (slurmstepd, a batch script, its worker): by the SLURM_CONF they
  # were started with, and only job processes (SLURM_JOB_ID) or step daemons, never the caller
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    [ "$pid" = $$ ] && continue
    vars=$(exec 2>/dev/null; tr '\0' '\n' <"$env") || continue
    grep -qx "SLURM_CONF=$dir/slurm.conf" <<<"$vars" || continue
    if grep -q '^SLURM_JOB_ID=' <<<"$vars" || grep -q slurmstepd "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

if [ "${1:-}" = stop ]; then
  stop "${2:?usage: slurm_start.sh stop DIR}"
  exit 0
fi

for cmd in munged munge slurmctld slurmd sinfo sbatch; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || {
    echo "slurm_start: $cmd is not installed (Debian: apt-get install slurm-wlm munge)" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin

DIR=$(mktemp -d /tmp/ablate-slurm.XXXXXX)
fail() {
  echo "slurm_start: $1" >&2
  for log in "$DIR"/log/* "$DIR"/munge/munged.log; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  stop "$DIR"
  exit 1
}
trap 'fail "interrupted"' INT TERM
chmod 755 "$DIR"  # the munge user must reach its own folder inside
mkdir -p "$DIR"/{state,spool,log,run,munge}

# munge: its own key (1024 random bytes), socket, pid, log and seed files, all under DIR/munge
USER_NAME=$(id -un)
MUNGE_USER=$USER_NAME
[ "$(id -u)" = 0 ] && id munge >/dev/null 2>&1 && MUNGE_USER=munge
SOCKET=$DIR/munge/munge.socket
head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
chmod 755 "$DIR/munge"  # munged: its socket folder must be searchable by all
chmod 400 "$DIR/munge/munge.key"
chown -R "$MUNGE_USER" "$DIR/munge"
munge_args=(--socket="$SOCKET" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid"
            --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed")
if [ "$MUNGE_USER" != "$USER_NAME" ]; then
  runuser -u "$MUNGE_USER" -- munged "${munge_args[@]}" </dev/null >/dev/null 2>&1 || fail "munged did not start"
else
  munged --force "${munge_args[@]}" </dev/null >/dev/null 2>&1 || fail "munged did not start"
fi
munge -S "$SOCKET" -n 2>/dev/null | unmunge -S "$SOCKET" 2>/dev/null | grep -q "STATUS: *Success" \
  || fail "munge does not answer on $SOCKET"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOST=$(hostname)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
cat >"$DIR/slurm.conf" <<EOF
# written by tests/faults/slurm_start.sh: one node, no cgroups, no accounting
ClusterName=ablatetest
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$USER_NAME
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
NodeName=$HOST CPUs=$(nproc) RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$DIR/slurm.conf

slurmctld -i </dev/null >>"$DIR/log/slurmctld.out" 2>&1 || fail "slurmctld did not start"
slurmd </dev/null >>"$DIR/log/slurmd.out" 2>&1 || fail "slurmd did not start"
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "${state:-}" = idle ] || fail "the node is not idle after 30 s (sinfo: '${state:-no answer}')"

echo "export SLURM_CONF=$DIR/slurm.conf"
echo "export ABLATE_TEST_SLURM=$DIR"  # stop with: tests/faults/slurm_start.sh stop "$ABLATE_TEST_SLURM"

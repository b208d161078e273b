#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests: `source scripts/slurm-cluster.sh` then
# `slurm_up DIR` (installs Debian's slurm-wlm and munge when missing, writes the configuration to
# DIR, starts munged, slurmctld and slurmd, exports SLURM_CONF) and `slurm_down` (stops them).
# Needs root (or passwordless sudo) for the install and the daemons.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

slurm_install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  echo "installing slurm-wlm and munge (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
}

slurm_up() {
  local dir="$1"
  slurm_install
  mkdir -p "$dir"/state "$dir"/spool
  local node
  node=$(hostname -s)
  local cpus
  cpus=$(nproc)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=sgntk-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
DependencyParameters=kill_invalid_depend
MinJobAge=3600
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  # munge: a key and a runtime directory owned by the munge user
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mkdir -p /etc/munge
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $SUDO mkdir -p /run/munge /var/lib/munge /var/log/munge
  $SUDO chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  $SUDO chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  $SUDO chmod 0400 /etc/munge/munge.key
  $SUDO chmod 0755 /run/munge
  if ! pgrep -x munged >/dev/null; then
    $SUDO runuser -u munge -- /usr/sbin/munged
  fi
  $SUDO env SLURM_CONF="$SLURM_CONF" slurmctld -f "$SLURM_CONF"
  $SUDO env SLURM_CONF="$SLURM_CONF" slurmd -f "$SLURM_CONF" -N "$node"
  # wait until the node is idle
  for _ in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^idle'; then
      return 0
    fi
    sleep 1
  done
  echo "slurm did not come up; logs:" >&2
  tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log >&2 || true
  return 1
}

slurm_down() {
  local dir
  dir=$(dirname "${SLURM_CONF:-/nonexistent/x}")
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    if [ -s "$pidfile" ]; then
      $SUDO kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  sleep 1
}

# Waits for job `$1` (and its array tasks) to leave the queue; fails if any ended other than COMPLETED.
slurm_wait() {
  local id="$1" limit="${2:-600}"
  for _ in $(seq 1 "$limit"); do
    if [ -z "$(squeue -h -j "$id" 2>/dev/null)" ]; then
      return 0
    fi
    sleep 1
  done
  echo "job $id still queued after $limit s" >&2
  return 1
}

#!/usr/bin/env bash
# A single-node SLURM cluster on this host, for the tests: Debian's slurm-wlm and munge, installed with apt
# where missing (as root), slurmctld and slurmd configured for this host's cores and memory, without cgroup
# plugins (proctrack/linuxproc, task/none), everything under one state folder.
#
#   tests/slurm/cluster.sh up <folder>     # prints SLURM_CONF=<folder>/slurm.conf once the node is idle
#   tests/slurm/cluster.sh down <folder>   # stops the daemons it started
#
# Client commands (sbatch, squeue, scancel) find the cluster through SLURM_CONF. Exit status 0 when the
# cluster is up; otherwise the last line of output says why it could not start.
set -euo pipefail
action=${1:?usage: cluster.sh up|down <folder>}
folder=$(mkdir -p "${2:?usage: cluster.sh up|down <folder>}" && cd "$2" && pwd)

stop() {
    for daemon in slurmd slurmctld; do
        if [ -f "$folder/$daemon.pid" ]; then
            kill "$(cat "$folder/$daemon.pid")" 2>/dev/null || true
        fi
    done
    if [ -f "$folder/munged.pid" ]; then
        kill "$(cat "$folder/munged.pid")" 2>/dev/null || true
    fi
}

if [ "$action" = down ]; then
    stop
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "cannot start SLURM: slurm-wlm and munge are not installed and this user cannot install them (apt-get install slurm-wlm munge, as root)"
        exit 1
    fi
    if ! log=$( (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge) 2>&1 ); then
        echo "cannot start SLURM: apt-get install slurm-wlm munge failed: $(printf '%s\n' "$log" | tail -n 1)"
        exit 1
    fi
fi

host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))  # MB, less 1 GB for the system
mkdir -p "$folder/state" "$folder/spool" "$folder/munge"

# munge: its own key and socket in the folder, so that nothing of the host's is touched.
if [ ! -f "$folder/munge/munge.key" ]; then
    dd if=/dev/urandom of="$folder/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$folder/munge/munge.key"
fi
socket="$folder/munge/munge.socket"
munged --force --key-file="$folder/munge/munge.key" --socket="$socket" --pid-file="$folder/munged.pid" \
    --log-file="$folder/munged.log" --seed-file="$folder/munge/munge.seed" 2>>"$folder/munged.log" || {
    echo "cannot start SLURM: munged did not start: $(tail -n 1 "$folder/munged.log")"
    exit 1
}

cat > "$folder/slurm.conf" <<CONF
ClusterName=dae-tests
SlurmctldHost=$host
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$folder/state
SlurmdSpoolDir=$folder/spool
SlurmctldPidFile=$folder/slurmctld.pid
SlurmdPidFile=$folder/slurmd.pid
SlurmctldLogFile=$folder/slurmctld.log
SlurmdLogFile=$folder/slurmd.log
SlurmctldPort=${DAE_SLURMCTLD_PORT:-6817}
SlurmdPort=${DAE_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$folder/slurm.conf"

slurmctld -f "$SLURM_CONF" || { echo "cannot start SLURM: slurmctld did not start: $(tail -n 1 "$folder/slurmctld.log" 2>/dev/null)"; stop; exit 1; }
slurmd -f "$SLURM_CONF" || { echo "cannot start SLURM: slurmd did not start: $(tail -n 1 "$folder/slurmd.log" 2>/dev/null)"; stop; exit 1; }

for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)
    if [ "$state" = idle ] || [ "$state" = mix ]; then
        echo "SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.5
done
echo "cannot start SLURM: the node did not become idle in 30 s (state: ${state:-none}; $(tail -n 1 "$folder/slurmd.log" 2>/dev/null))"
stop
exit 1

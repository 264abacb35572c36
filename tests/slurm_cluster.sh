#!/usr/bin/env bash
# A one-node SLURM cluster on this machine for tests/test_slurm.py: Debian's slurm-wlm and munge (installed
# here when missing, which needs root apt-get), slurmctld and slurmd on localhost, one partition "debug".
#
#   bash tests/slurm_cluster.sh start   # exit 0 once the node is idle; otherwise the last line says why
#   bash tests/slurm_cluster.sh stop
#
# The node declares 512 GB (SlurmdParameters=config_overrides) so that jobs asking for the profile's
# paper-scale memory are scheduled; nothing enforces it. It writes /etc/slurm/slurm.conf (where srun inside a
# job looks) only when there is none or it is this script's own, and `stop` (or a failed start) removes it.
set -u
STATE=/tmp/lmscope-slurm
CONF=/etc/slurm/slurm.conf
MARK="# lmscope test cluster"

fail() { echo "$1"; [ -n "${STARTING:-}" ] && stop; exit 1; }

# Daemons down and this script's slurm.conf removed: with a configuration but no controller, every SLURM client
# call waits about 9 s for it, and the SLURM executor plugin calls `scontrol show config` whenever Snakemake
# starts (it computes its help text), so every later snakemake command would too.
stop() {
    pkill -x slurmd 2>/dev/null
    pkill -x slurmctld 2>/dev/null
    if [ -e "$CONF" ] && grep -q "^$MARK" "$CONF"; then rm -f "$CONF"; fi
    return 0
}

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || fail "no SLURM here and no root apt-get to install it"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1; } \
        || fail "apt-get could not install slurm-wlm and munge"
}

configure() {
    if [ -e "$CONF" ] && ! grep -q "^$MARK" "$CONF"; then
        fail "$CONF exists and is not this script's: a real cluster's configuration is left alone"
    fi
    local host mem
    host=$(hostname -s)
    mkdir -p "$STATE/state" "$STATE/spool" /etc/slurm
    cat >"$CONF" <<EOF
$MARK (tests/slurm_cluster.sh): one node, no accounting, jobs run as the submitting user
ClusterName=lmscope
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SlurmdParameters=config_overrides
MpiDefault=none
NodeName=$host CPUs=$(nproc) RealMemory=512000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [ "$(id -u)" = 0 ] || fail "starting slurmctld, slurmd and munged needs root"
    install
    configure
    STARTING=1
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge
        [ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || fail "cannot create a munge key"
        chown munge:munge /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged >/dev/null 2>&1 || fail "munged did not start"
        sleep 1
        munge -n | unmunge >/dev/null 2>&1 || fail "munge does not answer"
    fi
    pkill -x slurmd 2>/dev/null
    pkill -x slurmctld 2>/dev/null
    sleep 1
    slurmctld >/dev/null 2>&1 || fail "slurmctld did not start (see $STATE/slurmctld.log)"
    slurmd >/dev/null 2>&1 || fail "slurmd did not start (see $STATE/slurmd.log)"
    for _ in $(seq 30); do
        if [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; then echo "SLURM node $(hostname -s) idle"; return 0; fi
        sleep 1
    done
    fail "the node did not become idle: $(sinfo -h -o '%t %E' 2>&1 | head -1)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) fail "usage: $0 start|stop" ;;
esac

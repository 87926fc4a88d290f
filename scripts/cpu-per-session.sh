#!/bin/bash
# usage: scripts/cpu-per-session.sh NAME C DURATION -- SERVER COMMAND with {port} {root}
#
# Server CPU per small session, until fbtftp-bench compare reports it: runs
# the server in its own cgroup v2 group (under $CGROUP2, default the
# cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup), runs
# fbtftp-bench load -c C for DURATION on a 4 KiB file, and prints the
# sessions, sessions/s, the group's CPU (cpu.stat usage_usec) per session
# and the peak thread count of the group (sampled every 50 ms). As root;
# a benchmark, never part of make test.

name=$1; c=$2; dur=$3; shift 4
root=/tmp/cpusess-root; mkdir -p $root; chmod 755 $root
[ -f $root/4k.bin ] || { head -c 4096 /dev/urandom > $root/4k.bin; chmod 644 $root/4k.bin; }
port=$((20000 + RANDOM % 20000))
cmd="$*"; cmd=${cmd//\{port\}/$port}; cmd=${cmd//\{root\}/$root}
bench=$(cd "$(dirname "$0")/.." && pwd)/bin/fbtftp-bench
if [ -z "$CGROUP2" ]; then
  CGROUP2=/sys/fs/cgroup; [ -d /sys/fs/cgroup/unified ] && CGROUP2=/sys/fs/cgroup/unified
fi
cg=$CGROUP2/cpusess-$name-$$
mkdir $cg
bash -c 'echo $$ > "$0"/cgroup.procs; exec "$@"' $cg $cmd > /tmp/cpusess-$name.log 2>&1 &
spid=$!
sleep 2
# warm-up
$bench load -server 127.0.0.1:$port -file 4k.bin -c $c -duration 1s >/dev/null 2>&1 || true
u0=$(awk '/usage_usec/{print $2}' $cg/cpu.stat)
( peak=0; while kill -0 $spid 2>/dev/null; do n=0; for p in $(cat $cg/cgroup.procs); do t=$(ls /proc/$p/task 2>/dev/null | wc -l); n=$((n+t)); done; [ $n -gt $peak ] && peak=$n && echo $peak > /tmp/cpusess-$name.threads; sleep 0.05; done ) &
tpid=$!
out=$($bench load -server 127.0.0.1:$port -file 4k.bin -c $c -duration $dur 2>&1)
u1=$(awk '/usage_usec/{print $2}' $cg/cpu.stat)
sess=$(echo "$out" | awk -F'[:,]' '/"sessions"/{print $2}')
sps=$(echo "$out" | awk -F'[:,]' '/sessions_per_s/{print $2}')
fail=$(echo "$out" | awk -F'[:,]' '/failures/{print $2}')
kill $spid 2>/dev/null; for i in $(seq 1 100); do kill -0 $spid 2>/dev/null || break; sleep 0.1; done; kill -9 $spid 2>/dev/null || true; wait $spid 2>/dev/null || true
kill $tpid 2>/dev/null || true; wait $tpid 2>/dev/null || true
for p in $(cat $cg/cgroup.procs 2>/dev/null); do kill -9 $p 2>/dev/null; done
sleep 0.5; find $cg -depth -type d -exec rmdir {} \; 2>/dev/null || true
echo "$name c=$c sessions=$sess failures=$fail sessions/s=$sps cpu_ms_per_session=$(echo "scale=3; ($u1-$u0)/1000/$sess" | bc) peak_threads=$(cat /tmp/cpusess-$name.threads 2>/dev/null)"

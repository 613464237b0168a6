#!/bin/bash
# usage: runexp3.sh OUTNAME ab_chat-args...   (syscall trace of the store + WT log files watch)
cd /work/wt-slow10k
name=$1; shift
E=/tmp/slow10k/exp
rm -f $E/*.log $E/perf.out $E/sampler.stop
echo "uptime before: $(uptime)"
date +%s.%N > $E/perf.t0
perf trace -a -e openat,creat,fallocate,ftruncate,fsync,fdatasync,rename,unlink,unlinkat,renameat2 -o $E/perf.out &
PERF=$!
( while [ ! -e $E/sampler.stop ]; do
    for f in /tmp/nirvana-ab-*/var-*/mongo/WiredTigerLog.* /tmp/nirvana-ab-*/var-*/mongo/*/WiredTigerLog.*; do
      [ -e "$f" ] && echo "$(date +%s.%N) $(stat -c '%s %Y' $f) $f"
    done
    sleep 0.25
  done > $E/wtlog.log ) &
WATCH=$!
.venv/bin/python -m bench.ab_chat "$@" --out /tmp/slow10k/$name.json
touch $E/sampler.stop
kill -INT $PERF; wait $PERF; wait $WATCH
echo "uptime after: $(uptime)"
mkdir -p /tmp/slow10k/exp-$name && cp $E/* /tmp/slow10k/exp-$name/

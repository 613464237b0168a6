#!/bin/bash
# usage: runexp.sh OUTNAME ab_chat-args...
cd /work/wt-slow10k
name=$1; shift
E=/tmp/slow10k/exp
rm -f $E/*.log $E/perf.out $E/sampler.stop
echo "uptime before: $(uptime)"
date +%s.%N > $E/perf.t0
perf trace -a -e fdatasync,fsync --duration 4 -o $E/perf.out &
PERF=$!
taskset -c 1 python3 /tmp/slow10k/sampler.py $E/samples.log $E/sampler.stop &
SAMP=$!
.venv/bin/python -m bench.ab_chat "$@" --out /tmp/slow10k/$name.json
touch $E/sampler.stop
kill -INT $PERF; wait $PERF; wait $SAMP
echo "uptime after: $(uptime)"
mkdir -p /tmp/slow10k/exp-$name && cp $E/* /tmp/slow10k/exp-$name/

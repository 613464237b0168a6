#!/bin/bash
# usage: runexp4.sh OUTNAME ab_chat-args...   (perf record of each pass's store)
cd /work/wt-slow10k
name=$1; shift
E=/tmp/slow10k/exp
rm -f $E/*.log $E/perf.out $E/sampler.stop /tmp/slow10k/perf-*.data
echo "uptime before: $(uptime)"
( for v in A B; do
    while true; do
      pid=$(pgrep -f "secantusd-gc.*var-$v/mongo" | head -1)
      [ -n "$pid" ] && break
      [ -e $E/sampler.stop ] && exit 0
      sleep 0.2
    done
    echo "$v $pid $(date +%s.%N)" >> $E/perfpids.log
    perf record -F 499 -g -k CLOCK_MONOTONIC -p $pid -o /tmp/slow10k/perf-$v.data 2>>$E/perfrec.err
    date +%s.%N >> $E/perfpids.log
  done ) &
.venv/bin/python -m bench.ab_chat "$@" --out /tmp/slow10k/$name.json
touch $E/sampler.stop
wait
echo "uptime after: $(uptime)"
mkdir -p /tmp/slow10k/exp-$name && cp $E/* /tmp/slow10k/exp-$name/

"""Line up each slow second of the heavy steps with what the machine did in it."""
import json, re, sys, collections
res = json.load(open(sys.argv[1]))
t0 = float(open('/tmp/exp/perf.t0').read())
stalls = []
for line in open('/tmp/exp/perf.out'):
    m = re.match(r'\s*([0-9.]+) \(\s*([0-9.]+) ms\): (\S+)', line)
    if m and m.group(3).startswith('secantusd'):
        stalls.append((t0 + float(m.group(1)) / 1000, float(m.group(2))))
gcs = []
for line in open('/tmp/exp/server_gc.log'):
    p = line.split()
    gcs.append((float(p[0]), p[2], float(p[3][:-2])))
samples = collections.defaultdict(list)  # name -> [(t, on, wait)] (pids merged per name by time)
for line in open('/tmp/exp/samples.log'):
    t, name, pid, on, wait = line.split()
    samples[(name, pid)].append((float(t), float(on), float(wait)))
def usage(name, a, b):
    tot_on = tot_wait = 0.0
    for (n, pid), rows in samples.items():
        if n != name: continue
        inside = [r for r in rows if a <= r[0] <= b]
        if len(inside) >= 2:
            tot_on += inside[-1][1] - inside[0][1]; tot_wait += inside[-1][2] - inside[0][2]
    return tot_on, tot_wait
thr = float(sys.argv[2]) if len(sys.argv) > 2 else 25
summary = collections.Counter()
for name, runs in res['runs'].items():
    for p in runs:
        for s in p:
            if s['offered_sends_per_s'] < 1000: continue
            st = s['start_unix']
            print(f"{name} {s['offered_sends_per_s']:.0f}/s p99 {s['p99_ms']:.1f}")
            for i, w in enumerate(s['worst_ms_by_second']):
                a, b = st + i - 0.1, st + i + 1  # a send due in second i; its wait may start before
                st_ = [round(d) for t, d in stalls if a <= t <= b + 0.1 and d >= 5]
                g = [f"{gen}:{d:.0f}" for t, gen, d in gcs if a <= t <= b + 0.1 and d >= 2]
                son, swait = usage('server', st + i, st + i + 1)
                don, _ = usage('store', st + i, st + i + 1)
                mark = '*' if w > thr else ' '
                print(f"  {mark}s{i} worst {w:6.1f}  fdatasync>=5ms {st_}  serverGC {g}  server cpu {son:.2f} wait {swait:.2f} store cpu {don:.2f}")
                if w > thr:
                    summary['slow'] += 1
                    summary['with_stall>=20'] += any(x >= 20 for x in st_)
                    summary['with_gc'] += bool(g)
print(dict(summary))

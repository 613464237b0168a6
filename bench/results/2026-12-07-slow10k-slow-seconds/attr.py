"""Line each second of the chat steps up with server/store GC, summary flushes, commits, fdatasync, CPU."""
import json, re, sys, collections, os
E = os.environ.get("EXP", "/tmp/slow10k/exp")
res = json.load(open(sys.argv[1]))
thr = float(sys.argv[2]) if len(sys.argv) > 2 else 30
minrate = float(sys.argv[3]) if len(sys.argv) > 3 else 1000
def lines(name):
    p = f"{E}/{name}.log"
    return [l.split() for l in open(p)] if os.path.exists(p) else []
sgc = [(float(p[0]), p[2], float(p[3][:-2]), p[4]) for p in lines("server_gc")]
dgc = [(float(p[0]), p[2], float(p[3][:-2]), p[4]) for p in lines("store_gc")]
fl_start = [(float(p[0]), int(p[3][2:])) for p in lines("flush") if p[2] == "start"]
fl_end = [(float(p[0]), float(p[4][5:-2])) for p in lines("flush") if p[2] == "end"]
commits = [(float(p[0]), int(p[2]), float(p[3])) for p in lines("commit")]
stalls = []
if os.path.exists(f"{E}/perf.out"):
    t0 = float(open(f"{E}/perf.t0").read())
    for line in open(f"{E}/perf.out"):
        m = re.match(r'\s*([0-9.]+) \(\s*([0-9.]+) ms\): (\S+)', line)
        if m and 'secantus' in m.group(3) or (m and 'python' in m.group(3)):
            stalls.append((t0 + float(m.group(1)) / 1000, float(m.group(2))))
samples = collections.defaultdict(list)
if os.path.exists(f"{E}/samples.log"):
    for line in open(f"{E}/samples.log"):
        t, name, pid, on, wait = line.split()
        samples[(name, pid)].append((float(t), float(on), float(wait)))
def usage(name, a, b):
    on = wait = 0.0
    for (n, pid), rows in samples.items():
        if n != name: continue
        inside = [r for r in rows if a <= r[0] <= b]
        if len(inside) >= 2:
            on += inside[-1][1] - inside[0][1]; wait += inside[-1][2] - inside[0][2]
    return on, wait
summary = collections.Counter()
for name, runs in res['runs'].items():
    for pi, p in enumerate(runs):
        for s in p:
            if s['offered_sends_per_s'] < minrate / 10: continue
            st = s['start_unix']
            print(f"{name} pass {pi} {s['offered_sends_per_s']*10:.0f}/s p50 {s['p50_ms']:.1f} p99 {s['p99_ms']:.1f}")
            for i, w in enumerate(s['worst_ms_by_second']):
                a, b = st + i - 0.1, st + i + 1.1
                g = [f"{gen}:{d:.0f}ms" for t, gen, d, c in sgc if a <= t <= b and (d >= 1 or gen != 'gen0')]
                g0 = sum(1 for t, gen, d, c in sgc if a <= t <= b)
                dg = [f"{gen}:{d:.0f}" for t, gen, d, c in dgc if a <= t <= b and d >= 3]
                fl = [(n) for t, n in fl_start if st + i <= t < st + i + 1]
                fe = [d for t, d in fl_end if st + i <= t < st + i + 1]
                cm = [c for c in commits if st + i <= c[0] < st + i + 1]
                ncm = len(cm); size = sum(c[1] for c in cm) / ncm if ncm else 0
                cmax = max((c[2] for c in cm), default=0)
                fs = [round(d) for t, d in stalls if a <= t <= b and d >= 5]
                son, swait = usage('server', st + i, st + i + 1)
                don, dwait = usage('store', st + i, st + i + 1)
                mark = '*' if w > thr else ' '
                print(f" {mark}s{i} worst {w:6.1f} | srvGC {g0} {g} | storeGC {dg} | flush {len(fl)}x{sum(fl)} took {sum(fe):.0f}ms | commits {ncm} avg {size:.1f} max {cmax:.0f}ms | fsync>=5 {fs} | cpu srv {son:.2f} w {swait:.2f} store {don:.2f} w {dwait:.2f}")

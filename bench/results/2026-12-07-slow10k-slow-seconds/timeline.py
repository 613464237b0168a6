import json, sys, re
E = sys.argv[1]; res = json.load(open(sys.argv[2])); ver, pi, rate, sec = sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
step = [s for s in res['runs'][ver][pi] if s['offered_sends_per_s'] == rate][0]
a = step['start_unix'] + sec - 0.3; b = a + 1.6
ev = []
for l in open(f"{E}/commit.log"):
    p = l.split(); t = float(p[0])
    if a <= t <= b and float(p[3]) >= 15: ev.append((t - float(p[3])/1000, f"commit START of size {p[2]} took {p[3]}ms {p[4]} (ends {t-a:.3f})"))
for l in open(f"{E}/flush.log"):
    p = l.split(); t = float(p[0])
    if a <= t <= b: ev.append((t, "flush " + " ".join(p[2:])))
for n in ("server_gc", "store_gc"):
    for l in open(f"{E}/{n}.log"):
        p = l.split(); t = float(p[0])
        if a <= t <= b: ev.append((t, n + " " + " ".join(p[2:])))
t0 = float(open(f"{E}/perf.t0").read())
for line in open(f"{E}/perf.out"):
    m = re.match(r'\s*([0-9.]+) \(\s*([0-9.]+) ms\): (\S+)', line)
    if m:
        t = t0 + float(m.group(1))/1000
        if a <= t <= b: ev.append((t, f"fdatasync {m.group(2)}ms {m.group(3)}"))
for t, e in sorted(ev): print(f"{t-a-0.3:+.3f} {e}")

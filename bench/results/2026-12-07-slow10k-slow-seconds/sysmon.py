"""Every 0.2 s: run time (schedstat ns) of every thread on the machine; writes deltas >= 2 ms:
t tid pid comm delta_ms last_cpu."""
import os, sys, time
out = open(sys.argv[1], "w", buffering=1 << 16)
stop = sys.argv[2]
prev = {}; comm = {}
while not os.path.exists(stop):
    now = time.time()
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try: tids = os.listdir(f"/proc/{p}/task")
        except OSError: continue
        for t in tids:
            key = int(t)
            try:
                run = int(open(f"/proc/{p}/task/{t}/schedstat").read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if key not in comm:
                try: comm[key] = open(f"/proc/{p}/task/{t}/comm").read().strip().replace(" ", "_")
                except OSError: comm[key] = "?"
            old = prev.get(key)
            prev[key] = run
            if old is not None and run - old >= 2_000_000:
                try: cpu = open(f"/proc/{p}/task/{t}/stat").read().rsplit(")", 1)[1].split()[36]
                except (OSError, IndexError): cpu = "?"
                out.write(f"{now:.3f} {t} {p} {comm[key]} {(run-old)/1e6:.1f} {cpu}\n")
    time.sleep(max(0.0, 0.2 - (time.time() - now)))
out.close()

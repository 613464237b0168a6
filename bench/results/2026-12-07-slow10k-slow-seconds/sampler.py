"""Every 50 ms: CPU (utime+stime ticks→s) and run-queue wait (schedstat) of run.py servers,
secantusd stores and the ab_chat generator. Writes lines: t name pid cpu_s wait_s."""
import os, sys, time
out = open(sys.argv[1], "w", buffering=1 << 16)
stop = sys.argv[2]
TCK = os.sysconf("SC_CLK_TCK")
def procs():
    found = {}
    for e in os.listdir("/proc"):
        if not e.isdigit(): continue
        try: cmd = open(f"/proc/{e}/cmdline", "rb").read()
        except OSError: continue
        if b"secantusd-gc" in cmd: found[int(e)] = "store"
        elif b"/tmp/slow10k/I" in cmd and b"run.py" in cmd: found[int(e)] = "server"
        elif b"bench.ab_chat" in cmd: found[int(e)] = "gen"
        elif b"nirvana-ab" in cmd and b"postgres" in cmd and b"-D" in cmd:
            found[int(e)] = "pg"
            try:
                kids = open(f"/proc/{e}/task/{e}/children").read().split()
            except OSError:
                kids = []
            for k in kids:
                try: kc = open(f"/proc/{k}/cmdline", "rb").read()
                except OSError: continue
                found[int(k)] = "pg:" + kc.replace(b"postgres: ", b"").split()[0].decode(errors="replace").strip(":\x00")
    return found
known = {}; last_scan = 0
while not os.path.exists(stop):
    now = time.time()
    if now - last_scan > 1: known = procs(); last_scan = now
    for pid, name in list(known.items()):
        on = wait = 0
        try:
            for t in os.listdir(f"/proc/{pid}/task"):
                try:
                    a, b, _ = open(f"/proc/{pid}/task/{t}/schedstat").read().split()
                except OSError:
                    continue
                on += int(a); wait += int(b)
        except OSError:
            continue
        out.write(f"{now:.3f} {name} {pid} {on/1e9:.4f} {wait/1e9:.4f}\n")
    time.sleep(0.05)
out.close()

"""py-spy raw stacks of bench.ws_send_cpu -> µs per send, inclusive per function (ours and
a few of the libraries'), start-up left out. Usage: group.py FILE SENDS RATE (gunzip inproc-main.txt.gz first)"""
import collections, re, sys
path, sends, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
skip = ("_find_and_load", "room_of", "build_services", "open_stores", "throwaway_stores",
        "connected (bench", "ServerState", "sign_up")
tot = 0; incl = collections.Counter(); leaf = collections.Counter()
for line in open(path):
    stack, n = line.rsplit(" ", 1); n = int(n)
    if any(s in stack for s in skip):
        continue
    tot += n
    seen = set()
    for f in stack.split(";"):
        name = re.sub(r" \(.*:\d+\)", "", f)
        if name not in seen:
            incl[name] += n; seen.add(name)
    leaf[re.sub(r" \((.*):\d+\)", r" (\1)", stack.split(";")[-1])] += n
us = 1e6 / rate / sends
print(f"{tot} samples, {tot * us:.1f} µs per send")
for k, v in incl.most_common(int(sys.argv[4]) if len(sys.argv) > 4 else 90):
    print(f"{v * us:6.2f} {k}")
print("--- leaves")
for k, v in leaf.most_common(40):
    print(f"{v * us:6.2f} {k}")

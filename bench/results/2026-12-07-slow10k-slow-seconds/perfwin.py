import sys, collections
f, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
samples = []
cur = None
for line in open(f):
    if line and not line[0].isspace() and line.strip():
        p = line.split()
        cur = [int(p[0]), float(p[1].rstrip(':')), []]
        samples.append(cur)
    elif line.strip() and cur is not None:
        p = line.split(None, 1)
        cur[2].append(p[1].strip() if len(p) > 1 else p[0])
win = [s for s in samples if a <= s[1] <= b]
for s in win:
    print(f"{s[1]:.4f} tid {s[0]} " + " <- ".join(x.split(' (')[0] + ('@' + x.split('(')[-1].rstrip(')').split('/')[-1] if '(' in x else '') for x in s[2][:4]))

"""Paired A/B in one process: blocks of `n` calls of A then B (order alternating each
pair), process_time, median of the paired differences (µs per call)."""
import statistics, time

def pair(a, b, n=20000, pairs=41):
    diffs, ta, tb = [], [], []
    for i in range(pairs):
        order = (a, b) if i % 2 == 0 else (b, a)
        t = {}
        for f in order:
            s = time.process_time()
            for _ in range(n):
                f()
            t[f] = (time.process_time() - s) / n * 1e6
        ta.append(t[a]); tb.append(t[b]); diffs.append(t[a] - t[b])
    return statistics.median(ta), statistics.median(tb), statistics.median(diffs), \
        (sorted(diffs)[pairs // 4], sorted(diffs)[3 * pairs // 4])

"""CPU of the upload fingerprint's SHA-256 as multipart.py feeds it: chunk by chunk."""
import hashlib, os, sys, time

MIB = 1 << 20
size, chunk = int(sys.argv[1]) * MIB, int(sys.argv[2]) * 1024
data = os.urandom(size)
pieces = [data[i:i + chunk] for i in range(0, size, chunk)]
runs = []
for _ in range(7):
    t0 = time.perf_counter()
    h = hashlib.sha256()
    for p in pieces:
        h.update(p)
    h.hexdigest()
    runs.append(time.perf_counter() - t0)
runs.sort()
print(f"{size // MIB} MiB in {chunk // 1024} KiB chunks: best {runs[0]*1000:.1f} ms, "
      f"median {runs[3]*1000:.1f} ms, {runs[3]*1000/(size/1e6):.2f} ms/MB (median), "
      f"{len(pieces)} updates; openssl {hashlib.sha256().name} via {hashlib.__name__}")

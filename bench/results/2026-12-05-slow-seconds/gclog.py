"""Experiment: log GC pauses (gen >= 1, or >= 1 ms) with wall times to a file."""
import gc, os, time
def install(path):
    log = open(path, "a", buffering=1)
    started = [0.0]
    def cb(phase, info):
        if phase == "start":
            started[0] = time.perf_counter(); return
        d = time.perf_counter() - started[0]; g = info["generation"]
        if d >= 0.001 or g >= 1:
            log.write(f"{time.time():.3f} pid={os.getpid()} gen{g} {d*1000:.2f}ms collected={info['collected']}\n")
    gc.callbacks.append(cb)

"""Peak resident memory of the current process, from Linux's /proc/self/status.

``hwm_reset()`` writes ``5`` to ``/proc/self/clear_refs``, which resets the peak (VmHWM) to the
current resident size (Linux ≥ 4.0), so that a later VmHWM measures what happened since. Where
that is not possible, VmHWM still holds the peak since process start (then it also counts the
imports and data loading) and ``resource.getrusage`` gives the same figure.
"""
import resource
import sys


def vm_status():
    """``{"VmRSS": MiB, "VmHWM": MiB, ...}`` (floats) for this process; {} off Linux."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Vm"):
                    key, val = line.split(":", 1)
                    parts = val.split()
                    if len(parts) == 2 and parts[1] == "kB":
                        out[key] = int(parts[0]) / 1024.0
    except OSError:
        pass
    if "VmHWM" not in out:  # ru_maxrss: KiB on Linux, bytes on macOS
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["VmHWM"] = rss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)
    return out


def hwm_reset():
    """Reset the peak-RSS mark to the current RSS; True when the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True

"""One sample of a node's load: CPU, memory, disk, network rates, and GPU where NVML is."""

from __future__ import annotations

import platform
import time

import psutil


class SystemSampler:
    def __init__(self) -> None:
        psutil.cpu_percent(None)  # the first call only primes the counter
        net = psutil.net_io_counters()
        self._last = (time.monotonic(), net.bytes_sent, net.bytes_recv)
        self._nvml, self._handle = _open_nvml()

    def sample(self) -> dict[str, float | None]:
        now = time.monotonic()
        net = psutil.net_io_counters()
        t0, sent0, recv0 = self._last
        dt = max(now - t0, 1e-3)
        self._last = (now, net.bytes_sent, net.bytes_recv)
        gpu, gpu_mem = self._gpu()
        return {
            "cpu": psutil.cpu_percent(None),
            "mem": psutil.virtual_memory().percent,
            "disk": psutil.disk_usage("/").percent,
            "net_sent": (net.bytes_sent - sent0) / dt,  # bytes per second since the last sample
            "net_recv": (net.bytes_recv - recv0) / dt,
            "gpu": gpu,
            "gpu_mem": gpu_mem,
        }

    def _gpu(self) -> tuple[float | None, float | None]:
        if self._nvml is None:
            return None, None
        try:
            util = self._nvml.nvmlDeviceGetUtilizationRates(self._handle)
            mem = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
            return float(util.gpu), 100.0 * mem.used / mem.total
        except Exception:
            return None, None


def _open_nvml():
    """(pynvml module, first GPU handle), or (None, None) without an NVIDIA GPU or library."""
    try:
        import pynvml  # optional: nvidia-ml-py

        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:
        return None, None


def hardware_facts() -> dict[str, object]:
    facts: dict[str, object] = {
        "platform": platform.platform(),
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }
    gpus = _gpu_names()
    if gpus:
        facts["gpus"] = gpus
    return facts


def _gpu_names() -> list[str]:
    """The NVIDIA GPUs NVML sees (none without the library or a GPU)."""
    nvml, _handle = _open_nvml()
    if nvml is None:
        return []
    try:
        names = []
        for i in range(nvml.nvmlDeviceGetCount()):
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    except Exception:
        return []

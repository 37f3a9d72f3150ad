import sys

from bench.transfer import MB, _Hubs, direct_push_transfer, direct_transfer, socket_baseline

h = _Hubs()
try:
    url = h.url("grpc")
    for size in [int(s) for s in sys.argv[1].split(",")]:
        n = size * MB
        base = min(socket_baseline(n) for _ in range(3))
        rows = {
            "fetch": [direct_transfer(url, n) for _ in range(3)],
            "tls": [direct_transfer(url, n, True) for _ in range(2)],
            "hashed": [direct_transfer(url, n, False, True) for _ in range(3)],
            "push": [direct_push_transfer(url, n) for _ in range(3)],
        }
        print(size, "socket", f"{n / base / 1e6:.0f} MB/s")
        for k, v in rows.items():
            print(size, k, " ".join(f"{base / x:.3f}" for x in v))
finally:
    h.stop()

"""Load test of ``smartframe serve`` on loopback: concurrent clients for a fixed time.

    python benchmarks/serve_load.py [--data ../shared/data] [--duration 15] [--clients 1,4,16]
                                    [--workers 2] [--rounds 6]

Starts a real server (``smartframe serve --workers 2``, every other setting at its default) on
a free loopback port and, for ``/v1/check`` and ``/v1/frame`` in turn, runs 1, 4 and 16 client
threads for ``--duration`` seconds each. Each client keeps one connection open and sends, at
random (seeded), a 12 MP camera-like JPEG (80% of requests) or one of four bad inputs (5% each):
a truncated copy of it, a 69-byte PNG declaring 20000x20000 pixels (a bomb), bytes that are no
image, and an upload larger than the server's limit (40 MiB declared; 1 MiB sent before the
answer is read). The target is 1280x720 (a plain size: no provider's byte limit).

Reported per phase: requests/s of the 12 MP photo (answered 200), p50/p95 latency of those,
all statuses by input, the CPU time per request of the workers, the server process and this
client, and how many CPUs those three used together (on a shared machine, what is left of the
two CPUs for the workers decides the scaling); for the whole run, the server's peak resident memory (the sum over the
server process and its workers of each one's VmHWM, and the highest sampled sum of VmRSS).

Every answer is checked (a fast wrong answer cannot pass): a framed photo must decode as a
1280x720 JPEG; a check must report the photo's own size and the dimensions rule failing; each
bad input must get its documented status and error type (truncated 422 CorruptImageError, bomb
413 ImageTooLargeError, not an image 415 NotAnImageError, oversized 413 UploadTooLarge); a 503
must be an overload with Retry-After. Any other answer is WRONG (exit code 2).

Targets: no 5xx other than overload 503s; frame of the 12 MP JPEG over HTTP (one client) within
1.15x of the same library call in-process; 4 clients on 2 workers at least 1.7x the photo
requests/s of one client (check and frame); peak memory within the documented bound (see the
docs/serve.md, "Limits and safety": the server, forkserver and resource-tracker processes as started + workers x 1200 MiB
+ (workers + queue) x upload limit). The in-process
comparison alternates blocks of in-process calls (a separate process, OpenCV held to the
worker's thread count) with blocks of HTTP calls, ``--rounds`` times, so that the machine's
changing load falls on both alike. Exit code 0 when every target passes, 1 when one fails.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from _images import DEFAULT_CACHE, default_data, make_jpeg, pick_source  # noqa: E402

SIZE = "1280x720"
MIX = [("photo", 0.80), ("truncated", 0.05), ("bomb", 0.05), ("text", 0.05), ("oversized", 0.05)]
EXPECTED_ERRORS = {"truncated": (422, "CorruptImageError"), "bomb": (413, "ImageTooLargeError"),
                   "text": (415, "NotAnImageError"), "oversized": (413, "UploadTooLarge")}
OVERSIZED_DECLARED = 40 * 2**20
WORKER_BOUND_MIB = 1200  # docs/errors.md, "Memory": framing any input with the default limits
DEFAULT_UPLOAD = 32 * 2**20
DEFAULT_QUEUE = 16


class Wrong(Exception):
    """An answer that is not what the server must give."""


# --- the server and its memory -------------------------------------------------------------------

def descendants(pid: int) -> set[int]:
    from serve_server import descendants as below

    return below(pid) | {pid}


def status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


class MemoryWatch(threading.Thread):
    """Samples the sum of VmRSS over the server's processes; remembers each one's VmHWM."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_sum_kib, self.hwm_kib = pid, 0, {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            self.sample()

    def sample(self) -> None:
        pids = descendants(self.pid)
        self.peak_sum_kib = max(self.peak_sum_kib, sum(status_kib(p, "VmRSS") for p in pids))
        for pid in pids:
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), status_kib(pid, "VmHWM"))


# --- clients ---------------------------------------------------------------------------------------

def oversized(port: int, path: str) -> tuple[int, dict, bytes]:
    """Declare 40 MiB, send 1 MiB, read the answer (the server refuses from the header)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {OVERSIZED_DECLARED}\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n".encode())
        try:
            sock.sendall(b"\0" * 2**20)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed before the megabyte was taken: what should happen
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


class Client(threading.Thread):
    def __init__(self, port: int, endpoint: str, bodies: dict[str, bytes], stop_at: float, seed: int,
                 verify) -> None:
        super().__init__(daemon=True)
        self.port, self.endpoint, self.bodies, self.stop_at = port, endpoint, bodies, stop_at
        self.random = random.Random(seed)
        self.verify = verify
        self.records: list[tuple[str, int, float]] = []  # (input, status, seconds)
        self.error: BaseException | None = None

    def run(self) -> None:
        connection = None
        names, weights = zip(*MIX)
        path = f"/v1/{self.endpoint}?size={SIZE}"
        try:
            while time.monotonic() < self.stop_at:
                name = self.random.choices(names, weights)[0]
                started = time.perf_counter()
                if name == "oversized":
                    status, headers, body = oversized(self.port, path)
                else:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    connection.request("POST", path, body=self.bodies[name],
                                       headers={"Content-Type": "application/octet-stream"})
                    response = connection.getresponse()
                    status, body = response.status, response.read()
                    headers = {k.lower(): v for k, v in response.getheaders()}
                    if headers.get("connection", "").lower() == "close":
                        connection.close()
                        connection = None
                elapsed = time.perf_counter() - started
                self.verify(self.endpoint, name, status, headers, body)
                self.records.append((name, status, elapsed))
        except BaseException as error:  # noqa: BLE001 -- reported by the main thread, which stops
            self.error = error
        finally:
            if connection is not None:
                connection.close()


def make_verifier(photo_size: tuple[int, int]):
    from PIL import Image

    def verify(endpoint: str, name: str, status: int, headers: dict, body: bytes) -> None:
        if status == 503:
            error = json.loads(body)["error"]
            if error["kind"] != "overload" or "retry-after" not in headers:
                raise Wrong(f"{name}: a 503 that is not an overload: {body[:200]!r}")
            return
        if name == "photo":
            if status != 200:
                raise Wrong(f"photo: status {status}: {body[:300]!r}")
            if endpoint == "frame":
                image = Image.open(io.BytesIO(body))
                image.load()
                if image.size != (1280, 720) or image.format != "JPEG":
                    raise Wrong(f"photo: framed to {image.size} {image.format}")
            else:
                report = json.loads(body)
                rules = {r["rule"]: r["status"] for r in report["rules"]}
                if tuple(report["size"]) != photo_size or rules["dimensions"] != "fail" or report["ok"]:
                    raise Wrong(f"photo: check report is wrong: {body[:300]!r}")
            return
        expected_status, expected_type = EXPECTED_ERRORS[name]
        error = json.loads(body)["error"]
        if status != expected_status or error["type"] != expected_type:
            raise Wrong(f"{name}: expected {expected_status} {expected_type}, got {status} {body[:300]!r}")

    return verify


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server process, its workers (and forkserver), and this client."""
    workers = descendants(server_pid) - {server_pid}
    return {"server": cpu_seconds(server_pid), "workers": sum(cpu_seconds(p) for p in workers),
            "client": cpu_seconds(os.getpid())}


def run_phase(port: int, endpoint: str, clients: int, seconds: float, bodies, verify, seed: int,
              server_pid: int):
    cpu_before = cpu_split(server_pid)
    stop_at = time.monotonic() + seconds
    threads = [Client(port, endpoint, bodies, stop_at, seed * 100 + i, verify) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for thread in threads:
        if thread.error is not None:
            raise thread.error
    cpu_after = cpu_split(server_pid)
    records = [r for t in threads for r in t.records]
    photo = sorted(s for name, status, s in records if name == "photo" and status == 200)
    counts = Counter((name, status) for name, status, _ in records)
    return {"endpoint": endpoint, "clients": clients, "seconds": round(elapsed, 2),
            "photo_per_s": len(photo) / elapsed, "all_per_s": len(records) / elapsed,
            "p50_ms": 1000 * statistics.median(photo) if photo else None,
            "p95_ms": 1000 * photo[min(len(photo) - 1, int(0.95 * len(photo)))] if photo else None,
            "counts": {f"{name} {status}": n for (name, status), n in sorted(counts.items())},
            # CPU time per answered request, every input: where the machine's time went.
            "cpu_ms_per_request": {k: round(1000 * (cpu_after[k] - cpu_before[k]) / max(1, len(records)), 1)
                                   for k in cpu_before},
            "cpu_share": round(sum(cpu_after[k] - cpu_before[k] for k in cpu_before) / elapsed, 2)}


# --- the in-process comparison ------------------------------------------------------------------------

BASELINE_CHILD = r"""
import sys, time, json
import cv2
cv2.setNumThreads(int(sys.argv[2]))
import smartframe
data = open(sys.argv[1], "rb").read()
smartframe.frame(data, "1280x720").encode()  # warm-up: imports, the face detector
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        started = time.perf_counter()
        encoded = smartframe.frame(data, "1280x720").encode()
        times.append(time.perf_counter() - started)
        assert encoded.format == "jpeg"
    print(json.dumps(times), flush=True)
"""


def compare_in_process(port: int, photo_path: Path, rounds: int, block: int, threads: int, verify):
    """Median seconds of the library call in-process and over HTTP, in alternating blocks."""
    child = subprocess.Popen([sys.executable, "-c", BASELINE_CHILD, str(photo_path), str(threads)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    data = photo_path.read_bytes()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    local, remote = [], []
    try:
        for _ in range(rounds):
            child.stdin.write(f"{block}\n")
            child.stdin.flush()
            local += json.loads(child.stdout.readline())
            for _ in range(block):
                started = time.perf_counter()
                connection.request("POST", f"/v1/frame?size={SIZE}", body=data)
                response = connection.getresponse()
                body = response.read()
                remote.append(time.perf_counter() - started)
                verify("frame", "photo", response.status, dict(response.getheaders()), body)
    finally:
        connection.close()
        child.stdin.close()
        child.wait(30)
    return statistics.median(local), statistics.median(remote)


# --- main ---------------------------------------------------------------------------------------------

def write_results(results, args, label, photo_path, photo_size, photo_bytes, local, remote, local_default,
                  threads, base_kib, peak_hwm, peak_rss_kib, bound, load_start, load_end) -> None:
    """The run's figures, into this benchmark's section of benchmarks/RESULTS.md."""
    from _results import load_note, markdown_table, write_section

    rows = [[r["endpoint"], r["clients"], f"{r['photo_per_s']:.2f}", f"{r['all_per_s']:.2f}",
             f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}",
             ", ".join(f"{k}: {v}" for k, v in sorted(r["counts"].items())), r["cpu_share"]]
            for r in results]
    body = "\n\n".join([
        f"`smartframe serve --workers {args.workers}` (every other setting at its default) on loopback; "
        f"each phase {args.duration:g} s of clients keeping one connection each and sending a "
        f"{photo_size[0]}x{photo_size[1]} JPEG ({photo_bytes} bytes, made from {label}; 80% of requests) or "
        f"a bad input (truncated, a pixel bomb, not an image, over the upload limit; 5% each). Every "
        f"answer checked. " + load_note(load_start, load_end),
        markdown_table(["endpoint", "clients", "photo req/s", "all req/s", "p50 ms", "p95 ms", "statuses",
                        "CPUs used"], rows),
        markdown_table(["", "ms"], [
            [f"frame {SIZE} in-process (OpenCV threads {threads}, as in a worker)", f"{local * 1000:.1f}"],
            [f"frame {SIZE} over HTTP, one client", f"{remote * 1000:.1f}"],
            [f"frame {SIZE} in-process with {os.cpu_count()} OpenCV threads", f"{local_default * 1000:.1f}"],
        ]),
        f"Memory of the server and its workers: {base_kib / 1024:.0f} MiB after start (sum of VmHWM), "
        f"peak sum of VmHWM {peak_hwm:.0f} MiB, peak sampled sum of VmRSS {peak_rss_kib / 1024:.0f} MiB; "
        f"the documented bound for this configuration is {bound:.0f} MiB.",
    ])
    write_section("serve_load", body, argv=sys.argv, title="Server under load (serve_load.py)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of the in-process comparison")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    from PIL import Image

    from serve_server import Server
    from conftest import png_declaring

    source, label = pick_source(args.data)
    photo_path = make_jpeg(source, label, 12, args.cache)
    photo = photo_path.read_bytes()
    with Image.open(photo_path) as image:
        photo_size = image.size
    bodies = {"photo": photo, "truncated": photo[: len(photo) // 3], "bomb": png_declaring(20000, 20000),
              "text": b"this is not an image, just a few words " * 40}
    print(f"photo: {photo_path.name} ({photo_size[0]}x{photo_size[1]}, {len(photo)} bytes) from {label}")
    load = os.getloadavg()
    load_start = load[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")

    verify = make_verifier(photo_size)
    server = Server("--workers", str(args.workers))
    watch = MemoryWatch(server.process.pid)
    watch.sample()
    base_kib = sum(watch.hwm_kib.values())
    worker_pids = {w["pid"] for w in server.workers()}
    helpers_kib = sum(k for pid, k in watch.hwm_kib.items() if pid not in worker_pids)
    watch.start()
    results, failures = [], []
    try:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        local, remote = compare_in_process(server.port, photo_path, args.rounds, 5, threads, verify)
        local_default, _ = compare_in_process(server.port, photo_path, 1, 5, os.cpu_count() or 1, verify)
        ratio = remote / local
        print(f"frame 12 MP -> {SIZE}: in-process {local * 1000:.1f} ms (OpenCV threads {threads}, as a "
              f"worker), over HTTP {remote * 1000:.1f} ms: {ratio:.3f}x "
              f"(in-process with {os.cpu_count()} threads: {local_default * 1000:.1f} ms)")
        if ratio > 1.15:
            failures.append(f"HTTP frame {ratio:.3f}x the in-process call (target <= 1.15x)")
        for endpoint in ("check", "frame"):
            for count in clients:
                result = run_phase(server.port, endpoint, count, args.duration, bodies, verify,
                                   seed=count + (0 if endpoint == "check" else 1000),
                                   server_pid=server.process.pid)
                results.append(result)
                print(f"{endpoint:5s} {count:2d} clients: {result['photo_per_s']:6.2f} photo req/s "
                      f"({result['all_per_s']:.2f} all), p50 {result['p50_ms']:.0f} ms, "
                      f"p95 {result['p95_ms']:.0f} ms; {result['counts']}; CPU ms per request "
                      f"{result['cpu_ms_per_request']}, CPUs used {result['cpu_share']}")
    except Wrong as wrong:
        print(f"WRONG ANSWER: {wrong}")
        return 2
    finally:
        watch.stopping.set()
        watch.join()
        watch.sample()
        server.stop()
    for endpoint in ("check", "frame"):
        by_clients = {r["clients"]: r for r in results if r["endpoint"] == endpoint}
        if 1 in by_clients and 4 in by_clients:
            speedup = by_clients[4]["photo_per_s"] / by_clients[1]["photo_per_s"]
            print(f"{endpoint}: 4 clients / 1 client = {speedup:.2f}x (target >= 1.7x)")
            if speedup < 1.7:
                failures.append(f"{endpoint}: 4 clients only {speedup:.2f}x one client")
    fivexx = {k: v for r in results for k, v in r["counts"].items() if k.split()[1].startswith("5")
              and not k.endswith(" 503")}
    if fivexx:
        failures.append(f"5xx answers other than overload: {fivexx}")
    peak_hwm = sum(watch.hwm_kib.values()) / 1024
    # The documented bound (docs/serve.md): the server process, the forkserver and resource tracker as started,
    # each worker at the library's bound, and every admitted request's body.
    bound = (helpers_kib / 1024 + args.workers * WORKER_BOUND_MIB
             + (args.workers + DEFAULT_QUEUE) * DEFAULT_UPLOAD / 2**20)
    print(f"server memory: {base_kib / 1024:.0f} MiB after start (sum of VmHWM, {len(watch.hwm_kib)} "
          f"processes), peak sum of VmHWM {peak_hwm:.0f} MiB, peak sampled sum of VmRSS "
          f"{watch.peak_sum_kib / 1024:.0f} MiB; documented bound {bound:.0f} MiB")
    if peak_hwm > bound:
        failures.append(f"peak memory {peak_hwm:.0f} MiB above the bound {bound:.0f} MiB")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    write_results(results, args, label, photo_path, photo_size, len(photo), local, remote, local_default,
                  threads, base_kib, peak_hwm, watch.peak_sum_kib, bound, load_start, load[0])
    if args.json:
        args.json.write_text(json.dumps({"phases": results, "in_process_ms": local * 1000,
                                         "http_ms": remote * 1000, "peak_hwm_mib": peak_hwm,
                                         "peak_rss_sum_mib": watch.peak_sum_kib / 1024}, indent=2))
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

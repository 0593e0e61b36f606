"""Per-request overhead of Starlette against FastAPI under uvicorn on loopback: how the
framework of ``smartframe serve`` was chosen.

    python benchmarks/serve_framework.py      # about 15 s; needs fastapi (pip install fastapi)

Each app has GET /ping (a small JSON answer) and POST /echo?size=1280x720&fit=cover, which reads
the whole body (256 KB) and answers with its length and the two parameters; the FastAPI app
declares the parameters with types, as FastAPI is meant to be used. Both apps run as real
uvicorn subprocesses, one keep-alive client calls them, and they take turns over 5 rounds of
1000 pings and 300 echoes each, so a change in the machine's load falls on both. Every answer
is checked (status 200, the right length echoed).
"""
import http.client, json, os, socket, statistics, subprocess, sys, tempfile, time, textwrap

APPS = {
"starlette": textwrap.dedent('''
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    async def ping(request): return JSONResponse({"status": "ok"})
    async def echo(request):
        body = b""
        async for chunk in request.stream(): body += chunk
        q = request.query_params
        return JSONResponse({"bytes": len(body), "size": q.get("size"), "fit": q.get("fit")})
    app = Starlette(routes=[Route("/ping", ping), Route("/echo", echo, methods=["POST"])])
'''),
"fastapi": textwrap.dedent('''
    from enum import Enum
    from fastapi import FastAPI, Request
    class Fit(str, Enum):
        cover = "cover"; pad = "pad"; stretch = "stretch"
    app = FastAPI()
    @app.get("/ping")
    async def ping(): return {"status": "ok"}
    @app.post("/echo")
    async def echo(request: Request, size: str, fit: Fit = Fit.cover):
        body = b""
        async for chunk in request.stream(): body += chunk
        return {"bytes": len(body), "size": size, "fit": fit.value}
'''),
}

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

FOLDER = tempfile.mkdtemp(prefix="smartframe-framework-")

def start(name):
    path = os.path.join(FOLDER, f"fw_{name}.py"); open(path, "w").write(APPS[name])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", f"fw_{name}:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=FOLDER)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close(); break
        except OSError: time.sleep(0.05)
    return proc, port

def run(port, n, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse(); data = r.read(); assert r.status == 200, (r.status, data)
        if body is not None:
            assert json.loads(data)["bytes"] == len(body), data
        times.append(time.perf_counter() - t)
    conn.close()
    return times

body = os.urandom(256 * 1024)
load_start = os.getloadavg()[0]
servers = {name: start(name) for name in APPS}
results = {name: {"ping": [], "echo": []} for name in APPS}
try:
    for name, (_, port) in servers.items():
        run(port, 200, "GET", "/ping"); run(port, 50, "POST", "/echo?size=1280x720&fit=cover", body)
    for rnd in range(5):
        for name, (_, port) in servers.items():
            results[name]["ping"] += run(port, 1000, "GET", "/ping")
            results[name]["echo"] += run(port, 300, "POST", "/echo?size=1280x720&fit=cover", body)
finally:
    for proc, _ in servers.values(): proc.terminate(); proc.wait()
load = os.getloadavg()
print(f"load average {load[0]:.2f} at the end, {os.cpu_count()} CPUs")
rows = []
for name, r in results.items():
    for kind, t in r.items():
        t = sorted(t)
        median, p95 = statistics.median(t) * 1e6, t[int(len(t) * 0.95)] * 1e6
        print(f"{name:10s} {kind:5s} n={len(t)} median {median:7.0f} us  p95 {p95:7.0f} us")
        rows.append([name, {"ping": "GET /ping (small JSON answer)", "echo": "POST /echo (256 KB body, 2 parameters)"}[kind],
                     len(t), f"{median:.0f}", f"{p95:.0f}"])

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import load_note, markdown_table, write_section  # noqa: E402

versions = []
for module in ("starlette", "fastapi", "uvicorn"):
    try:
        versions.append(f"{module} {__import__(module).__version__}")
    except (ImportError, AttributeError):
        versions.append(f"{module} (version unknown)")
write_section("serve_framework", "\n\n".join([
    f"Per-request time on loopback, one keep-alive client, the apps taking turns over 5 rounds "
    f"({', '.join(versions)}; every answer checked). " + load_note(load_start, load[0]),
    markdown_table(["framework", "request", "requests", "median us", "p95 us"], rows),
]), argv=sys.argv, title="Server framework overhead (serve_framework.py)")

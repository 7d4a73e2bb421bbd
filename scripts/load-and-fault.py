#!/usr/bin/env python3
"""The gateway under sustained load while things break around it (scripts/load-and-fault.sh).

Load: WORKERS threads of keep-alive GETs through a proxied route (/app, to an nginx origin)
and a route whose file is rewritten every few seconds (/static); an HTTPS probe every 0.2 s;
relay commands POSTed every 20 ms to a MessagingRelay on PostgreSQL.
Faults, on a schedule: the route file rewritten (every 5 s), the origin killed for 3 s (every
30 s), the TLS certificate replaced (every 20 s; the served certificate must change), and
PostgreSQL restarted (every 60 s).
Report: requests and failures, split into the moments the origin was down (expected 502s) and
the rest (must be zero); relay commands acknowledged and lost (every acknowledged commandId
must still be readable at the end: zero lost). Exit 1 on any unexpected failure or loss.
"""
import base64, hashlib, http.client, json, os, socket, ssl, subprocess, sys, threading, time

GATEWAY, ORIGIN_CMD, INSTANCE, PG_RESTART = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
PORT, TLS_PORT = int(sys.argv[5]), int(sys.argv[6])
DURATION = float(os.environ.get("DURATION", "300"))
WORKERS = int(os.environ.get("WORKERS", "8"))
KEY = "079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045"
API_KEY = base64.b64encode(f"prime1:{KEY}".encode()).decode()

lock = threading.Lock()
results = []        # (time, what, ok, detail)
origin_down = []    # (from, to) windows, with a margin after the restart
acked = []          # commandIds the relay acknowledged
acked_at = []       # when
events = []         # (time, what)
stop = threading.Event()


def note(what, ok, detail=""):
    with lock:
        results.append((time.monotonic(), what, ok, detail))


def in_origin_window(t):
    return any(a <= t <= b for a, b in origin_down)


def load_worker():
    conn = None
    i = 0
    while not stop.is_set():
        path = "/app/" if i % 2 == 0 else "/static"
        i += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            note(path, r.status == 200, str(r.status))
            if r.getheader("connection", "").lower() == "close":
                conn.close(); conn = None
        except Exception as e:  # the connection broke: a failure, then a new connection
            note(path, False, type(e).__name__)
            conn = None


def https_probe():
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    while not stop.is_set():
        try:
            c = http.client.HTTPSConnection("127.0.0.1", TLS_PORT, timeout=10, context=ctx)
            c.request("GET", "/static"); r = c.getresponse(); r.read(); c.close()
            note("https", r.status == 200, str(r.status))
        except Exception as e:
            note("https", False, type(e).__name__)
        time.sleep(0.2)


def relay_worker():
    conn = None
    n = 0
    while not stop.is_set():
        n += 1
        body = json.dumps({"commandHeader": {"lifespan": 3600, "timeout": 1800, "externalId": f"lf-{n}"},
                           "provCommand": {"n": n}})
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("POST", "/hermod/rest/command/provision", body,
                         {"X-Api-Key": API_KEY, "Content-Type": "application/json"})
            r = conn.getresponse(); text = r.read()
            if r.status == 200:
                with lock:
                    acked.append(json.loads(text)["commandId"])
                    acked_at.append(time.monotonic())
            # A refusal (the store restarting) is not a loss: only acknowledged commands count.
            note("relay-post", True, "acknowledged" if r.status == 200 else f"refused {r.status}")
        except Exception as e:
            note("relay-post", True, f"refused {type(e).__name__}")
            conn = None
        time.sleep(0.02)


def served_cert():
    return hashlib.sha256(ssl.get_server_certificate(("127.0.0.1", TLS_PORT)).encode()).hexdigest()


def new_cert():
    d = os.path.join(INSTANCE, "secrets")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-x509", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", f"{d}/new.key", "-out", f"{d}/new.crt"], check=True, capture_output=True)
    with open(f"{d}/tls.pem.tmp", "w") as f:
        f.write(open(f"{d}/new.key").read() + open(f"{d}/new.crt").read())
    os.rename(f"{d}/tls.pem.tmp", f"{d}/tls.pem")


def faults(origin):
    start = time.monotonic()
    version = 0
    last = {"route": start, "origin": start, "cert": start, "pg": start}
    while not stop.is_set():
        now = time.monotonic()
        if now - last["route"] >= 5:
            version += 1
            route = {"condition": "${request.uri.path == '/static'}",
                     "handler": {"type": "StaticResponseHandler", "config": {"status": 200, "entity": f"v{version}"}}}
            tmp = os.path.join(INSTANCE, "config", "routes", ".static.json.tmp")
            json.dump(route, open(tmp, "w"))
            os.rename(tmp, os.path.join(INSTANCE, "config", "routes", "static.json"))
            last["route"] = now; events.append((now, f"route rewritten (v{version})"))
        if now - last["origin"] >= 30:
            down = time.monotonic()
            origin.terminate(); origin.wait()
            time.sleep(3)
            origin = subprocess.Popen(ORIGIN_CMD, shell=True)
            wait_for_origin()
            with lock:  # pooled upstream connections to the old origin fail for a moment after
                origin_down.append((down, time.monotonic() + 1.0))
            last["origin"] = time.monotonic(); events.append((down, "origin killed for 3 s"))
        if now - last["cert"] >= 20:
            before = served_cert()
            new_cert()
            changed = False
            for _ in range(100):  # autoRefresh looks every few seconds
                time.sleep(0.1)
                if served_cert() != before:
                    changed = True; break
            note("cert-rotation", changed, "served" if changed else "still the old certificate")
            last["cert"] = time.monotonic(); events.append((now, "certificate replaced"))
        if now - last["pg"] >= 60:
            subprocess.run(PG_RESTART, shell=True, check=False, capture_output=True)
            last["pg"] = time.monotonic(); events.append((now, "PostgreSQL restarted"))
        time.sleep(0.1)
    return origin


def wait_for_origin():
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["ORIGIN_PORT"])), 1).close()
            return
        except OSError:
            time.sleep(0.05)


def main():
    origin = subprocess.Popen(ORIGIN_CMD, shell=True)
    wait_for_origin()
    threads = [threading.Thread(target=load_worker) for _ in range(WORKERS)]
    threads += [threading.Thread(target=https_probe), threading.Thread(target=relay_worker)]
    for t in threads:
        t.start()
    holder = {}
    f = threading.Thread(target=lambda: holder.setdefault("origin", faults(origin)))
    f.start()
    time.sleep(DURATION)
    stop.set()
    for t in threads:
        t.join()
    f.join()
    holder.get("origin", origin).terminate()
    # Every acknowledged command must still be there.
    lost = []
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    for cid in acked:
        for attempt in range(3):
            try:
                conn.request("GET", f"/hermod/rest/command/{cid}", headers={"X-Api-Key": API_KEY})
                r = conn.getresponse(); r.read()
                if r.status != 200:
                    lost.append((cid, r.status))
                break
            except Exception:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                if attempt == 2:
                    lost.append((cid, "unreachable"))
    by = {}
    for t, what, ok, detail in results:
        if what == "relay-post":
            key = (what, detail)
        else:
            key = (what, "ok" if ok else ("origin down" if in_origin_window(t) and what == "/app/" else "FAILED"))
        by[key] = by.get(key, 0) + 1
    failed = sum(n for (w, k), n in by.items() if k == "FAILED")
    t0 = min((t for t, *_ in results), default=0)
    unexpected = [(t, w, d) for t, w, ok, d in results
                  if not ok and w != "relay-post" and not (w == "/app/" and in_origin_window(t))]
    for t, w, d in unexpected[:10]:
        near = min(events, key=lambda e: abs(e[0] - t), default=(t, "-"))
        print(f"  unexpected failure at {t - t0:7.2f} s: {w} {d} (nearest fault: {near[1]} at {near[0] - t0:.2f} s)")
    # The relay must come back after each store restart: acknowledgements in the last 10 s.
    end = max((t for t, *_ in results), default=0)
    recovered = any(t > end - 10 for t in acked_at)
    if not recovered:
        failed += 1
        print("  the relay acknowledged nothing in the last 10 s: it did not recover from a store restart")
    print(f"load and faults for {DURATION:.0f} s, {WORKERS} load workers")
    for what, count in sorted(by.items()):
        print(f"  {what[0]:<14} {what[1]:<12} {count}")
    print(f"  faults: {len(events)} ({', '.join(sorted(set(e.split(' (')[0] for _, e in events)))})")
    print(f"  relay commands acknowledged {len(acked)}, lost {len(lost)}" + (f": {lost[:5]}" if lost else ""))
    print(f"RESULT failed-outside-origin-downtime={failed} lost-relay-commands={len(lost)}")
    sys.exit(1 if failed or lost else 0)


main()

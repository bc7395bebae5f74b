#!/usr/bin/env bash
# Inspector benchmark: page weight and server time of every page at N turns
# (default 100,000). Starts a release daemon (hash embedder, so loading is
# quick) on a temp data dir with the inspector on, imports N synthetic turns
# in sessions of 50 spread over 24 months (namespace `bench`), runs one
# forced dream pass, then requests each page R times (default 20) with the
# cookie and prints a table: bytes, the server's own time (its
# Server-Timing header: first request and median) and the client's median.
#
#   scripts/bench-ui.sh [TURNS] [REPEATS]
#   BIN=target/debug/memd scripts/bench-ui.sh 20000   # another binary
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
R=${2:-20}

if [ -z "${BIN:-}" ]; then
    cargo build --release --locked --quiet --bin memd
    BIN=target/release/memd
fi
TMP=$(mktemp -d /tmp/memd-bench-ui.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -TERM $PID 2>/dev/null; [ -n "$PID" ] && wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$TMP/memd.toml" <<TOML
[daemon]
data_dir = "$TMP/data"
socket = "$TMP/memd.sock"
[log]
level = "warn"
[embed]
provider = "hash"
[ui]
listen = "127.0.0.1:$PORT"
token_env = "MEMD_UI_BENCH_TOKEN"
TOML
MEMD_UI_BENCH_TOKEN=$TOKEN "$BIN" daemon --config "$TMP/memd.toml" 2> "$TMP/daemon.log" &
PID=$!
for _ in $(seq 1 300); do [ -S "$TMP/memd.sock" ] && break; sleep 0.1; done
[ -S "$TMP/memd.sock" ] || { cat "$TMP/daemon.log" >&2; exit 1; }

SOCK=$TMP/memd.sock BASE=http://127.0.0.1:$PORT TOKEN=$TOKEN N=$N R=$R python3 - <<'PY'
import http.client, json, os, random, socket, statistics, time, urllib.request

sock, base, token = os.environ["SOCK"], os.environ["BASE"], os.environ["TOKEN"]
n, repeats = int(os.environ["N"]), int(os.environ["R"])

class Unix(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("memd", timeout=3600)
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)

def api(method, path, body=b""):
    c = Unix()
    c.request(method, path, body=body, headers={"content-type": "application/json"})
    r = c.getresponse()
    out = json.loads(r.read() or b"null")
    assert r.status < 300, (path, r.status, out)
    return out

rng = random.Random(7)
words = [f"w{i}" for i in range(5000)] + ["hiking", "Lisbon", "sister", "guitar", "move"]
start = time.mktime((2023, 1, 1, 0, 0, 0, 0, 0, 0))
span = 24 * 30 * 86400
t0 = time.time()
batch = []
for i in range(n):
    s = i // 50
    at = start + span * s / max(1, n // 50) + (i % 50) * 30
    batch.append(json.dumps({
        "session_id": f"bench-{s}", "namespace": "bench",
        "role": "user" if i % 2 == 0 else "assistant",
        "content": " ".join(rng.choice(words) for _ in range(8 + rng.randrange(25))),
        "ext_id": f"b{i}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
    }))
    if len(batch) == 5000 or i + 1 == n:
        api("POST", "/v1/import", ("\n".join(batch) + "\n").encode())
        batch = []
print(f"imported {n} turns in {time.time() - t0:.1f} s")
t0 = time.time()
api("POST", "/v1/dream", json.dumps({"namespace": "bench", "force": True, "wait": True}).encode())
print(f"one forced dream pass in {time.time() - t0:.1f} s")
for i in range(3):
    api("POST", "/v1/facts", json.dumps({"namespace": "bench", "subject": "user",
        "text": f"The user lives in city {i}."}).encode())

# The cookie the token buys.
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
opener = urllib.request.build_opener(NoRedirect)
try:
    opener.open(f"{base}/?token={token}")
except urllib.error.HTTPError as e:
    cookie = e.headers["set-cookie"].split(";")[0]

def get(path):
    req = urllib.request.Request(base + path, headers={"cookie": cookie})
    t = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        body = r.read()
        server = float(r.headers["server-timing"].split("dur=")[1])
    return len(body), server, (time.perf_counter() - t) * 1000

last_page = (n // 50 - 1) // 50
pages = [
    ("overview", "/?ns=bench"),
    ("sessions, first page", "/sessions?ns=bench"),
    (f"sessions, last page ({last_page + 1})", f"/sessions?ns=bench&page={last_page}"),
    ("a session (50 turns)", "/sessions/bench-0?ns=bench"),
    ("time", "/time?ns=bench"),
    ("dream", "/dream?ns=bench"),
    ("recall (k=10, pack 2000)", "/recall?ns=bench&q=hiking+in+Lisbon+with+my+sister"),
    ("facts", "/facts?ns=bench"),
]
print(f"\n{n} turns, {n // 50} sessions; {repeats} requests per page\n")
print("| page | bytes | server ms (first) | server ms (median) | client ms (median) |")
print("|---|---:|---:|---:|---:|")
for name, path in pages:
    first = get(path)
    rest = [get(path) for _ in range(repeats - 1)] or [first]
    print(f"| {name} | {first[0]:,} | {first[1]:.1f} | "
          f"{statistics.median(r[1] for r in rest):.1f} | {statistics.median(r[2] for r in rest):.1f} |")
PY

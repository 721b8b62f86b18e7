# Starts and stops the emulators; sourced by scripts/dev and scripts/test.
# Every process started here is stopped by stop_services (wired to EXIT by the callers).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
SERVICE_PIDS=()

die() { echo "error: $*" >&2; exit 1; }

port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url name seconds
  local deadline=$((SECONDS + $3))
  until python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means it is listening
PY
  do
    if (( SECONDS > deadline )); then die "$2 did not start within $3 s (log: $LOCAL/logs/$2.log)"; fi
    sleep 0.2
  done
}

# start_dynamodb PORT [persistent|memory]
start_dynamodb() {
  command -v java >/dev/null 2>&1 || die "Java 17 is required for DynamoDB Local (install a JDK 17, e.g. apt-get install openjdk-17-jre-headless)"
  port_free "$1" || die "port $1 (DynamoDB Local) is in use: stop what uses it or set CG_DYNAMODB_PORT"
  mkdir -p "$LOCAL/logs" "$LOCAL/data"
  local storage=(-inMemory)
  [[ "${2:-memory}" == persistent ]] && storage=(-dbPath "$LOCAL/data")
  (cd "$LOCAL/dynamodb" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -port "$1" -sharedDb "${storage[@]}" -disableTelemetry) >"$LOCAL/logs/dynamodb.log" 2>&1 &
  SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$1" dynamodb 30
}

# start_moto PORT
start_moto() {
  port_free "$1" || die "port $1 (moto) is in use: stop what uses it or set CG_MOTO_PORT"
  mkdir -p "$LOCAL/logs"
  "$LOCAL/moto/bin/moto_server" -H 127.0.0.1 -p "$1" >"$LOCAL/logs/moto.log" 2>&1 &
  SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$1/moto-api/" moto 30
  # Seeded ids: the demo users keep the same Cognito sub across restarts, so their
  # households in the persistent DynamoDB data stay theirs.
  python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$1/moto-api/seed?a=42', method='POST'))"
}

stop_services() {
  local pid
  for pid in "${SERVICE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  SERVICE_PIDS=()
}

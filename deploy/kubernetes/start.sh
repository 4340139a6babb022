#!/usr/bin/env bash
# Starts a real etcd and kube-apiserver for tests, bound to 127.0.0.1 on ports picked free now, with a
# self-signed serving certificate (openssl), a static admin token, a service-account signing key and RBAC.
# Writes $WEFT_KUBE_RUN_DIR/kubeconfig (default run/kubeconfig beside this script) and prints its path;
# etcd's client URL is in etcd-endpoint beside it (tests compact etcd through it).
# The SMI and OSM CRDs in crds/ are applied and waited for. Running it again while its apiserver answers
# prints the same path and leaves it alone. stop.sh stops both processes and removes the run folder.
# Binaries come from build.sh (bin/etcd, bin/kube-apiserver); this script does not build them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KUBE_RUN_DIR:-$here/run}
bin=${WEFT_KUBE_BIN_DIR:-$here/bin}
start_timeout=${WEFT_KUBE_START_TIMEOUT:-120}

for b in etcd kube-apiserver; do
  [ -x "$bin/$b" ] || { echo "start.sh: $bin/$b is missing; run $here/build.sh first" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "start.sh: openssl is not on PATH; install openssl" >&2; exit 1; }
command -v node >/dev/null || { echo "start.sh: node is not on PATH" >&2; exit 1; }
command -v curl >/dev/null || { echo "start.sh: curl is not on PATH; install curl" >&2; exit 1; }
command -v flock >/dev/null || { echo "start.sh: flock is not on PATH; install util-linux" >&2; exit 1; }

# Two callers at once (two test processes) must not both start a server in one run folder: the second
# waits here, then finds the first one's server running.
mkdir -p "$(dirname "$run")"
# The servers started below get fd 9 closed (9>&-), or they would hold the lock for their lifetime.
exec 9>"$run.lock"
flock -w "$start_timeout" 9 || { echo "start.sh: another start.sh holds $run.lock" >&2; exit 1; }

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

if alive etcd && alive kube-apiserver && [ -s "$run/kubeconfig" ] &&
  curl -sf --cacert "$run/pki/ca.crt" -H "Authorization: Bearer $(cat "$run/token")" "$(cat "$run/server")/readyz" >/dev/null; then
  echo "$run/kubeconfig"
  exit 0
fi
"$here/stop.sh" >/dev/null 2>&1 || true

mkdir -p "$run/pki" "$run/etcd"
chmod 700 "$run"

# Three free ports (etcd client, etcd peer, apiserver), chosen by the OS; the servers bind them a moment later.
read -r etcd_port peer_port api_port < <(node -e '
const net = require("node:net");
const ports = [];
const next = () => {
  if (ports.length === 3) return console.log(ports.map((s) => s.address().port).join(" ")), ports.forEach((s) => s.close());
  const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s); next(); });
};
next();')

pki=$run/pki
openssl_quiet() { openssl "$@" >/dev/null 2>&1 || { echo "start.sh: openssl $1 failed" >&2; openssl "$@"; exit 1; }; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=weft-test-kube-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
openssl_quiet x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt"
openssl_quiet genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
openssl_quiet pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

token=$(openssl rand -hex 24)
echo "$token" >"$run/token"
# token,user,uid,"group": the admin identity the tests use (system:masters passes every RBAC check).
echo "$token,weft-test-admin,weft-test-admin,\"system:masters\"" >"$pki/tokens.csv"
chmod 600 "$run/token" "$pki/tokens.csv" "$pki"/*.key

# --unsafe-no-fsync: test data, thrown away at stop; fsync on a shared disk is what makes etcd slow here.
nohup "$bin/etcd" --name weft-test --data-dir "$run/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "weft-test=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn \
  >"$run/etcd.log" 2>&1 9>&- &
echo $! >"$run/etcd.pid"
echo "http://127.0.0.1:$etcd_port" >"$run/etcd-endpoint"

server="https://127.0.0.1:$api_port"
echo "$server" >"$run/server"
# --endpoint-reconciler-type=none: no Endpoints for the "kubernetes" Service (there is no node network here).
# --watch-cache-sizes endpoints#0: Endpoints watches go to etcd itself, so a test that compacts etcd sees
# the real 410 Gone a client gets after a long disconnection (the cache would replay from memory instead).
# --service-cluster-ip-range is only allocated from (ClusterIPs of test Services); nothing routes to it.
nohup "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --token-auth-file "$pki/tokens.csv" --anonymous-auth=false \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode RBAC \
  --endpoint-reconciler-type none \
  --enable-priority-and-fairness=false \
  --watch-cache-sizes 'endpoints#0' \
  --profiling=false \
  --cert-dir "$run/pki/generated" \
  >"$run/kube-apiserver.log" 2>&1 9>&- &
echo $! >"$run/kube-apiserver.pid"

deadline=$((SECONDS + start_timeout))
until curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "$server/readyz" >/dev/null 2>&1; do
  for p in etcd kube-apiserver; do
    if ! alive "$p"; then
      tail -30 "$run/$p.log" >&2
      echo "start.sh: $p exited while starting (log above, full log in $run/$p.log)" >&2
      "$here/stop.sh" --keep-logs >&2 || true
      exit 1
    fi
  done
  if [ $SECONDS -ge $deadline ]; then
    tail -30 "$run/kube-apiserver.log" >&2
    echo "start.sh: kube-apiserver was not ready within ${start_timeout}s (log: $run/kube-apiserver.log)" >&2
    "$here/stop.sh" --keep-logs >&2 || true
    exit 1
  fi
  sleep 0.3
done

ca_data=$(base64 -w0 <"$pki/ca.crt")
cat >"$run/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: weft-test
  cluster:
    server: $server
    certificate-authority-data: $ca_data
users:
- name: weft-test-admin
  user:
    token: $token
contexts:
- name: weft-test
  context: { cluster: weft-test, user: weft-test-admin }
current-context: weft-test
KUBECONFIG
chmod 600 "$run/kubeconfig"

# The SMI and OSM policy CRDs, through the API itself (no kubectl here), then wait until they are served.
api() { curl -sS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "$@"; }
for crd in "$here"/crds/*.yaml; do
  [ -f "$crd" ] || continue
  code=$(api -o "$run/crd-response.json" -w '%{http_code}' -X POST -H 'Content-Type: application/yaml' \
    --data-binary "@$crd" "$server/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
  if [ "$code" != 201 ] && [ "$code" != 409 ]; then
    cat "$run/crd-response.json" >&2
    echo "start.sh: creating the CRD in $crd failed with HTTP $code (response above)" >&2
    exit 1
  fi
done
for crd in "$here"/crds/*.yaml; do
  [ -f "$crd" ] || continue
  name=$(sed -n 's/^  name: *//p' "$crd" | head -1)
  until api "$server/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name" | tr -d ' \n' |
    grep -q '"type":"Established","status":"True"'; do
    if [ $SECONDS -ge $deadline ]; then
      echo "start.sh: CRD $name was not established within ${start_timeout}s" >&2
      exit 1
    fi
    sleep 0.2
  done
done

echo "$run/kubeconfig"

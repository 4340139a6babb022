#!/usr/bin/env bash
# Starts a 3-node Apache Kafka cluster for tests: three KRaft nodes, each broker AND controller (a controller
# quorum of 3, so any one node may die), bound to 127.0.0.1 on ports picked free now. Topics default to
# replication factor 3 with min.insync.replicas=2, so acks=all writes go on with one node down. Same jars
# as start.sh (pom.xml, resolved from Maven Central on first use).
#
# Writes the bootstrap list ("127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>") to
# $WEFT_KAFKA_CLUSTER_RUN_DIR/brokers (default target/cluster beside this script) and prints it last on
# stdout; progress goes to stderr. $run/nodes has one line per node: "<node id> <pid> <broker port>
# <controller port>". stop-cluster.sh stops the nodes and removes their data. Running it again while all
# three nodes are up prints the same list and leaves them alone; a cluster with a node down is restarted
# from scratch (its data is removed).
#
# Failure detection is tightened for tests (a dead node is fenced within seconds instead of ~30 s), and
# each JVM gets a small heap (WEFT_KAFKA_HEAP, default 384m).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KAFKA_CLUSTER_RUN_DIR:-$here/target/cluster}
lib=$here/target/lib
start_timeout=${WEFT_KAFKA_START_TIMEOUT:-90}
heap=${WEFT_KAFKA_HEAP:-384m}
nodes=(1 2 3)

say() { echo "start-cluster.sh: $*" >&2; }

command -v java >/dev/null || { say "java (17 or later) is not on PATH; install a JDK"; exit 1; }
command -v node >/dev/null || { say "node is not on PATH"; exit 1; }

# Two test processes asking at once must not both start a cluster in one directory: the second waits for
# the first and then finds its cluster running. The lock file lives beside $run, which is removed and made.
mkdir -p "$(dirname "$run")"
exec 9>"$run.lock"
# Bounded: a start takes well under this; a lock held longer is a bug to report, not to wait out.
flock -w 240 9 || { echo "start-cluster.sh: $run.lock is still held after 240 s (another start-cluster.sh, or a process that inherited its lock)" >&2; exit 1; }

all_up() {
  [ -s "$run/brokers" ] && [ -s "$run/nodes" ] || return 1
  local id pid rest
  while read -r id pid rest; do
    kill -0 "$pid" 2>/dev/null || return 1
  done <"$run/nodes"
  return 0
}

if all_up; then
  cat "$run/brokers"
  exit 0
fi
if [ -e "$run" ]; then
  say "a previous cluster in $run is incomplete; stopping it and starting afresh"
  "$here/stop-cluster.sh" >&2 || true
fi

if [ ! -f "$lib/kafka_2.13-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml").jar" ]; then
  command -v mvn >/dev/null || { say "mvn is not on PATH; install Maven to fetch the Kafka jars"; exit 1; }
  say "resolving the Kafka jars from Maven Central"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2
fi

rm -rf "$run"
mkdir -p "$run"

# Six free ports (three brokers, three controllers), chosen by the OS; the nodes bind them a moment later.
read -r -a ports < <(node -e '
const net = require("node:net");
const servers = [];
const next = () => {
  if (servers.length === 6) {
    console.log(servers.map((s) => s.address().port).join(" "));
    for (const s of servers) s.close();
    return;
  }
  const s = net.createServer().listen(0, "127.0.0.1", next);
  servers.push(s);
};
next();')
broker_port() { echo "${ports[$(($1 - 1))]}"; }
controller_port() { echo "${ports[$(($1 + 2))]}"; }

voters=""
for n in "${nodes[@]}"; do voters+="${voters:+,}${n}@127.0.0.1:$(controller_port "$n")"; done

for n in "${nodes[@]}"; do
  mkdir -p "$run/node$n/data"
  cat >"$run/node$n/server.properties" <<PROPS
process.roles=broker,controller
node.id=${n}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${run}/node${n}/data
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# A node killed with -9 is fenced by the controllers after broker.session.timeout.ms, and a follower that
# stopped fetching leaves the ISR after replica.lag.time.max.ms: seconds here, so acks=all writes do not
# wait ~30 s on a dead replica.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=4000
controller.quorum.election.timeout.ms=1000
controller.quorum.fetch.timeout.ms=2000
PROPS
done

cp=("$lib"/*)
cp=$(IFS=:; echo "${cp[*]}")
jvm=(-Xms64m "-Xmx$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$here/log4j.properties")

# 16 random bytes, base64url as Kafka's own ids; one starting with '-' would be read as an option by
# kafka-storage's argument parser (1 id in 64 starts so), so that character is replaced.
cluster_id=$(node -e 'console.log(require("node:crypto").randomBytes(16).toString("base64url").replace(/^-/, "A"))')
say "formatting the storage of nodes ${nodes[*]} (cluster id $cluster_id)"
for n in "${nodes[@]}"; do
  java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$run/node$n/server.properties" \
    >"$run/node$n/format.log" 2>&1 &
done
for n in "${nodes[@]}"; do
  wait -n || {
    cat "$run"/node*/format.log >&2
    say "formatting the KRaft storage failed (above)"
    exit 1
  }
done

: >"$run/nodes.tmp"
for n in "${nodes[@]}"; do
  # 9>&-: the node must not inherit the lock, or it would hold it for its whole life and block every later start.
  nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$run/node$n/server.properties" >"$run/node$n/broker.log" 2>&1 9>&- &
  echo "$n $! $(broker_port "$n") $(controller_port "$n")" >>"$run/nodes.tmp"
done
mv "$run/nodes.tmp" "$run/nodes"
say "started nodes ${nodes[*]}; waiting for them to join (up to ${start_timeout}s)"

deadline=$((SECONDS + start_timeout))
pending=("${nodes[@]}")
while [ ${#pending[@]} -gt 0 ]; do
  left=()
  for n in "${pending[@]}"; do
    pid=$(awk -v n="$n" '$1 == n { print $2 }' "$run/nodes")
    if grep -q 'Kafka Server started' "$run/node$n/broker.log" 2>/dev/null; then
      say "node $n is up (broker 127.0.0.1:$(broker_port "$n"), ${SECONDS}s)"
      continue
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -40 "$run/node$n/broker.log" >&2
      say "node $n exited while starting (log above, full log in $run/node$n/broker.log)"
      "$here/stop-cluster.sh" >&2 || true
      exit 1
    fi
    left+=("$n")
  done
  pending=("${left[@]}")
  [ ${#pending[@]} -eq 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    for n in "${pending[@]}"; do tail -20 "$run/node$n/broker.log" >&2; done
    say "nodes ${pending[*]} did not start within ${start_timeout}s (logs in $run/node<n>/broker.log)"
    "$here/stop-cluster.sh" >&2 || true
    exit 1
  fi
  sleep 0.3
done

list=""
for n in "${nodes[@]}"; do list+="${list:+,}127.0.0.1:$(broker_port "$n")"; done
echo "$list" >"$run/brokers"
cat "$run/brokers"

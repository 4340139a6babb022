#!/usr/bin/env bash
# Starts a single-node Apache Kafka broker (KRaft: one process is broker and controller) bound to 127.0.0.1
# on ports picked free now, for tests. The jars come from Maven Central through pom.xml (resolved on first
# use). Writes the bootstrap address ("127.0.0.1:<port>") to $WEFT_KAFKA_RUN_DIR/brokers (default
# target/run/brokers beside this script) and prints it; stop.sh stops the broker and removes its data.
# Running it again while its broker is up prints the same address and leaves the broker alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KAFKA_RUN_DIR:-$here/target/run}
lib=$here/target/lib
start_timeout=${WEFT_KAFKA_START_TIMEOUT:-90}

command -v java >/dev/null || { echo "start.sh: java (17 or later) is not on PATH; install a JDK" >&2; exit 1; }
command -v node >/dev/null || { echo "start.sh: node is not on PATH" >&2; exit 1; }

if [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null && [ -s "$run/brokers" ]; then
  cat "$run/brokers"
  exit 0
fi

if [ ! -f "$lib/kafka_2.13-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml").jar" ]; then
  command -v mvn >/dev/null || { echo "start.sh: mvn is not on PATH; install Maven to fetch the Kafka jars" >&2; exit 1; }
  echo "start.sh: resolving the Kafka jars from Maven Central" >&2
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2
fi

rm -rf "$run"
mkdir -p "$run/data"

# Two free ports (broker, controller), chosen by the OS; the broker binds them a moment later.
read -r broker_port controller_port < <(node -e '
const net = require("node:net");
const a = net.createServer().listen(0, "127.0.0.1", () => {
  const b = net.createServer().listen(0, "127.0.0.1", () => {
    console.log(`${a.address().port} ${b.address().port}`);
    a.close();
    b.close();
  });
});')

cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${broker_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${run}/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

cp=("$lib"/*)
cp=$(IFS=:; echo "${cp[*]}")
jvm=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$here/log4j.properties")

# 16 random bytes, base64url as Kafka's own ids; one starting with '-' would be read as an option by
# kafka-storage's argument parser (1 id in 64 starts so), so that character is replaced.
cluster_id=$(node -e 'console.log(require("node:crypto").randomBytes(16).toString("base64url").replace(/^-/, "A"))')
java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$run/server.properties" >"$run/format.log" 2>&1 || {
  cat "$run/format.log" >&2
  echo "start.sh: formatting the KRaft storage failed (above)" >&2
  exit 1
}

nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$run/server.properties" >"$run/broker.log" 2>&1 &
echo $! >"$run/pid"

deadline=$((SECONDS + start_timeout))
until grep -q 'Kafka Server started' "$run/broker.log" 2>/dev/null; do
  if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    tail -40 "$run/broker.log" >&2
    echo "start.sh: the broker exited while starting (log above, full log in $run/broker.log)" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    tail -40 "$run/broker.log" >&2
    echo "start.sh: the broker did not start within ${start_timeout}s (log: $run/broker.log)" >&2
    "$here/stop.sh" >&2 || true
    exit 1
  fi
  sleep 0.2
done

echo "127.0.0.1:${broker_port}" >"$run/brokers"
cat "$run/brokers"

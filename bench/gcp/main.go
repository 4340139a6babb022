// Command gcp-server is the go-control-plane side of the push-latency benchmark: an ADS server built the
// usual way (a snapshot cache for LDS/RDS/CDS/SDS, a linear cache for EDS, muxed) serving the resources Weft
// dumped, so that it sends the same bytes to the same simulated proxies. The harness drives it with JSON
// lines on stdin (start, apply <scenario>, stats, stop) and reads JSON replies on stdout.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// Resource types the dumped Any values hold, registered for anypb.UnmarshalNew.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

type dumpResource struct {
	ID      int    `json:"id"`
	Type    int    `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Any     string `json:"any"`
}

type dumpChange struct {
	Node string `json:"node"`
	Type int    `json:"type"`
	IDs  []int  `json:"ids"`
}

type dumpStep struct {
	Resources []dumpResource `json:"resources"`
	Changes   []dumpChange   `json:"changes"`
}

type dumpScenario struct {
	Name       string     `json:"name"`
	IntervalMs float64    `json:"intervalMs"`
	Steps      []dumpStep `json:"steps"`
}

type dump struct {
	Types     []string           `json:"types"`
	Resources []dumpResource     `json:"resources"`
	Initial   map[string][][]int `json:"initial"`
	Scenarios []dumpScenario     `json:"scenarios"`
}

type request struct {
	Type     string `json:"type"`
	ID       int    `json:"id"`
	Scenario string `json:"scenario"`
	GC       bool   `json:"gc"`
	At       int64  `json:"at"`
	DumpFile string `json:"dumpFile"`
}

type stats struct {
	CPUMicros int64 `json:"cpuMicros"`
	// CPUAtMicros is the CPU time at the first 10 ms sample at or after the requested moment.
	CPUAtMicros *int64 `json:"cpuAtMicros,omitempty"`
	RSS         int64  `json:"rss"`
	HeapUsed    uint64 `json:"heapUsed"`
}

type res struct {
	typ  int
	name string
	msg  types.Resource
}

// state is what the server holds: every resource by dump id and each node's resource ids per type.
type state struct {
	d         *dump
	resources map[int]res
	nodes     map[string][][]int
	edsType   int
	snapshots cache.SnapshotCache
	linear    *cache.LinearCache
	edsByName map[string]int
}

func (s *state) add(list []dumpResource) error {
	for _, r := range list {
		raw, err := base64.StdEncoding.DecodeString(r.Any)
		if err != nil {
			return fmt.Errorf("resource %d (%s): %w", r.ID, r.Name, err)
		}
		a := &anypb.Any{}
		if err := proto.Unmarshal(raw, a); err != nil {
			return fmt.Errorf("resource %d (%s): not an Any: %w", r.ID, r.Name, err)
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("resource %d (%s): %w", r.ID, r.Name, err)
		}
		s.resources[r.ID] = res{typ: r.Type, name: r.Name, msg: m}
	}
	return nil
}

func versionOf(ids []int) string {
	h := fnv.New64a()
	for _, id := range ids {
		h.Write([]byte(strconv.Itoa(id)))
		h.Write([]byte{','})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// snapshot builds a node's snapshot; each type carries its own version so only changed types are pushed.
func (s *state) snapshot(node string) (*cache.Snapshot, error) {
	snap := &cache.Snapshot{}
	for t, ids := range s.nodes[node] {
		if t == s.edsType {
			continue // EDS is served by the linear cache
		}
		items := make([]types.Resource, 0, len(ids))
		for _, id := range ids {
			r, ok := s.resources[id]
			if !ok {
				return nil, fmt.Errorf("node %s: unknown resource id %d", node, id)
			}
			items = append(items, r.msg)
		}
		idx := cache.GetResponseType(s.d.Types[t])
		if idx == types.UnknownType {
			return nil, fmt.Errorf("unknown type %s", s.d.Types[t])
		}
		snap.Resources[idx] = cache.NewResources(versionOf(ids), items)
	}
	return snap, nil
}

// edsUpdates collects ClusterLoadAssignments by name; a name must mean one resource for every node, since
// the linear cache is shared.
func (s *state) edsUpdates(ids []int, into map[string]types.Resource) error {
	for _, id := range ids {
		r := s.resources[id]
		if prev, ok := s.edsByName[r.name]; ok && prev == id {
			continue
		}
		if _, dup := into[r.name]; dup && s.edsByName[r.name] != id {
			return fmt.Errorf("two different ClusterLoadAssignments named %q in one state: the linear cache cannot serve per-node endpoints", r.name)
		}
		s.edsByName[r.name] = id
		into[r.name] = r.msg
	}
	return nil
}

func (s *state) load() error {
	ctx := context.Background()
	initial := map[string]types.Resource{}
	for node, sets := range s.d.Initial {
		s.nodes[node] = sets
		if err := s.edsUpdates(sets[s.edsType], initial); err != nil {
			return err
		}
		snap, err := s.snapshot(node)
		if err != nil {
			return err
		}
		if err := s.snapshots.SetSnapshot(ctx, node, snap); err != nil {
			return err
		}
	}
	s.linear.SetResources(initial)
	return nil
}

func (s *state) applyStep(step dumpStep) error {
	if err := s.add(step.Resources); err != nil {
		return err
	}
	ctx := context.Background()
	eds := map[string]types.Resource{}
	touched := map[string]bool{}
	for _, c := range step.Changes {
		sets, ok := s.nodes[c.Node]
		if !ok {
			continue
		}
		sets[c.Type] = c.IDs
		if c.Type == s.edsType {
			if err := s.edsUpdates(c.IDs, eds); err != nil {
				return err
			}
		} else {
			touched[c.Node] = true
		}
	}
	if len(eds) > 0 {
		if err := s.linear.UpdateResources(eds, nil); err != nil {
			return err
		}
	}
	for node := range touched {
		snap, err := s.snapshot(node)
		if err != nil {
			return err
		}
		if err := s.snapshots.SetSnapshot(ctx, node, snap); err != nil {
			return err
		}
	}
	return nil
}

func cpuMicros() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + int64(ru.Utime.Usec) + ru.Stime.Sec*1e6 + int64(ru.Stime.Usec)
}

// sampler keeps CPU time every 10 ms, so the harness can read the CPU spent up to the last ACK.
type sampler struct {
	mu    sync.Mutex
	times []int64
	cpu   []int64
}

func newSampler() *sampler {
	s := &sampler{}
	s.sample()
	go func() {
		for range time.Tick(10 * time.Millisecond) {
			s.sample()
		}
	}()
	return s
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now().UnixMicro())
	s.cpu = append(s.cpu, cpuMicros())
	if len(s.times) > 60000 {
		s.times = append([]int64(nil), s.times[30000:]...)
		s.cpu = append([]int64(nil), s.cpu[30000:]...)
	}
}

func (s *sampler) at(t int64) int64 {
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		i := sort.Search(len(s.times), func(i int) bool { return s.times[i] >= t })
		if i < len(s.times) || time.Now().After(deadline) {
			if i == len(s.times) {
				i--
			}
			v := s.cpu[i]
			s.mu.Unlock()
			return v
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

func currentStats(gc bool) stats {
	if gc {
		runtime.GC()
	}
	cpu := cpuMicros()
	var rss int64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return stats{CPUMicros: cpu, RSS: rss, HeapUsed: ms.HeapAlloc}
}

func main() {
	dumpFlag := flag.String("dump", "", "dump file written by the harness (Weft's resources per proxy and per scenario step)")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	reply := func(v map[string]any) {
		if err := out.Encode(v); err != nil {
			fmt.Fprintln(os.Stderr, "gcp-server: cannot write reply:", err)
			os.Exit(1)
		}
	}
	var st *state
	var grpcServer *grpc.Server
	samples := newSampler()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "gcp-server: bad control line:", err)
			os.Exit(2)
		}
		fail := func(err error) { reply(map[string]any{"type": "error", "id": req.ID, "message": err.Error()}) }
		switch req.Type {
		case "start":
			file := *dumpFlag
			if req.DumpFile != "" {
				file = req.DumpFile
			}
			s, port, srv, err := start(file)
			if err != nil {
				fail(err)
				continue
			}
			st, grpcServer = s, srv
			reply(map[string]any{"type": "started", "id": req.ID, "port": port, "stats": currentStats(false)})
		case "apply":
			if st == nil {
				fail(errors.New("apply before start"))
				continue
			}
			var sc *dumpScenario
			for i := range st.d.Scenarios {
				if st.d.Scenarios[i].Name == req.Scenario {
					sc = &st.d.Scenarios[i]
				}
			}
			if sc == nil {
				fail(fmt.Errorf("the dump has no scenario %q", req.Scenario))
				continue
			}
			at := make([]int64, 0, len(sc.Steps))
			var err error
			for i, step := range sc.Steps {
				if i > 0 && sc.IntervalMs > 0 {
					time.Sleep(time.Duration(sc.IntervalMs * float64(time.Millisecond)))
				}
				at = append(at, time.Now().UnixMicro())
				if err = st.applyStep(step); err != nil {
					break
				}
			}
			if err != nil {
				fail(err)
				continue
			}
			reply(map[string]any{"type": "applied", "id": req.ID, "appendAt": at, "stats": currentStats(false)})
		case "stats":
			cur := currentStats(req.GC)
			if req.At > 0 {
				v := samples.at(req.At)
				cur.CPUAtMicros = &v
			}
			reply(map[string]any{"type": "stats", "id": req.ID, "stats": cur})
		case "stop":
			if grpcServer != nil {
				grpcServer.Stop()
			}
			reply(map[string]any{"type": "stopped", "id": req.ID})
			return
		default:
			fail(fmt.Errorf("unknown request type %q", req.Type))
		}
	}
}

func start(file string) (*state, int, *grpc.Server, error) {
	if file == "" {
		return nil, 0, nil, errors.New("no dump file: pass --dump or dumpFile in the start request")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, nil, err
	}
	d := &dump{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, 0, nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &state{
		d:         d,
		resources: map[int]res{},
		nodes:     map[string][][]int{},
		edsType:   -1,
		snapshots: cache.NewSnapshotCache(true, cache.IDHash{}, nil),
		linear:    cache.NewLinearCache(resource.EndpointType),
		edsByName: map[string]int{},
	}
	for i, t := range d.Types {
		if t == resource.EndpointType {
			s.edsType = i
		}
	}
	if s.edsType < 0 {
		return nil, 0, nil, errors.New("the dump has no ClusterLoadAssignment type")
	}
	if err := s.add(d.Resources); err != nil {
		return nil, 0, nil, err
	}
	if err := s.load(); err != nil {
		return nil, 0, nil, err
	}
	mux := &cache.MuxCache{
		Classify: func(r *cache.Request) string {
			if r.GetTypeUrl() == resource.EndpointType {
				return "eds"
			}
			return "snapshot"
		},
		ClassifyDelta: func(r *cache.DeltaRequest) string {
			if r.GetTypeUrl() == resource.EndpointType {
				return "eds"
			}
			return "snapshot"
		},
		Caches: map[string]cache.Cache{"eds": s.linear, "snapshot": s.snapshots},
	}
	srv := server.NewServer(context.Background(), mux, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, nil, err
	}
	g := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, srv)
	go func() {
		if err := g.Serve(lis); err != nil {
			fmt.Fprintln(os.Stderr, "gcp-server: serve:", err)
		}
	}()
	return s, lis.Addr().(*net.TCPAddr).Port, g, nil
}

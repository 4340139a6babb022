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
	// Step, when set, applies that step of the scenario only (the harness drives repeated changes).
	Step     *int   `json:"step"`
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

// linearType serves one non-full-state type (EDS, RDS, SDS) from linear caches, which in SotW send only
// the resources that changed (as the protocol allows for these types, and as Weft does), where the
// snapshot cache would resend every subscribed resource of the type. One shared cache when every name means
// the same resource for every node (EDS: a CLA per cluster); else one cache per node (RDS: "rds-inbound.8080"
// differs per identity).
type linearType struct {
	typ     int
	url     string
	shared  *cache.LinearCache
	perNode map[string]*cache.LinearCache
	byName  map[string]int
}

func (l *linearType) key(node string) string {
	if l.shared != nil {
		return l.url
	}
	return l.url + "\x00" + node
}

// state is what the server holds: every resource by dump id and each node's resource ids per type.
type state struct {
	d         *dump
	resources map[int]res
	nodes     map[string][][]int
	snapshots cache.SnapshotCache
	linear    map[int]*linearType
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
		if _, ok := s.linear[t]; ok {
			continue // served by a linear cache
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

// sharedUpdates collects the resources of a shared linear type by name; a name must mean one resource for
// every node, since the cache is shared.
func (s *state) sharedUpdates(l *linearType, ids []int, into map[string]types.Resource) error {
	for _, id := range ids {
		r := s.resources[id]
		if prev, ok := l.byName[r.name]; ok && prev == id {
			continue
		}
		if _, dup := into[r.name]; dup && l.byName[r.name] != id {
			return fmt.Errorf("two different %s named %q in one state: a shared linear cache cannot serve per-node resources", l.url, r.name)
		}
		l.byName[r.name] = id
		into[r.name] = r.msg
	}
	return nil
}

// nameShared reports whether, in the initial state, every name of type t means one resource for all nodes.
func (s *state) nameShared(t int) bool {
	seen := map[string]int{}
	for _, sets := range s.d.Initial {
		for _, id := range sets[t] {
			r := s.resources[id]
			if prev, ok := seen[r.name]; ok && prev != id {
				return false
			}
			seen[r.name] = id
		}
	}
	return true
}

func (s *state) byNameOf(ids []int) map[string]types.Resource {
	out := make(map[string]types.Resource, len(ids))
	for _, id := range ids {
		r := s.resources[id]
		out[r.name] = r.msg
	}
	return out
}

func (s *state) load() error {
	ctx := context.Background()
	for t, url := range s.d.Types {
		if url == resource.EndpointType || url == resource.RouteType || url == resource.SecretType {
			l := &linearType{typ: t, url: url, byName: map[string]int{}}
			if s.nameShared(t) {
				l.shared = cache.NewLinearCache(url)
			} else {
				l.perNode = map[string]*cache.LinearCache{}
			}
			s.linear[t] = l
		}
	}
	initial := map[int]map[string]types.Resource{}
	for t := range s.linear {
		initial[t] = map[string]types.Resource{}
	}
	for node, sets := range s.d.Initial {
		s.nodes[node] = sets
		for t, l := range s.linear {
			if l.shared != nil {
				if err := s.sharedUpdates(l, sets[t], initial[t]); err != nil {
					return err
				}
			} else {
				l.perNode[node] = cache.NewLinearCache(l.url, cache.WithInitialResources(s.byNameOf(sets[t])))
			}
		}
		snap, err := s.snapshot(node)
		if err != nil {
			return err
		}
		if err := s.snapshots.SetSnapshot(ctx, node, snap); err != nil {
			return err
		}
	}
	for t, l := range s.linear {
		if l.shared != nil {
			l.shared.SetResources(initial[t])
		}
	}
	return nil
}

func (s *state) applyStep(step dumpStep) error {
	if err := s.add(step.Resources); err != nil {
		return err
	}
	ctx := context.Background()
	shared := map[int]map[string]types.Resource{}
	touched := map[string]bool{}
	for _, c := range step.Changes {
		sets, ok := s.nodes[c.Node]
		if !ok {
			continue
		}
		before := sets[c.Type]
		sets[c.Type] = c.IDs
		l, linear := s.linear[c.Type]
		switch {
		case !linear:
			touched[c.Node] = true
		case l.shared != nil:
			if shared[c.Type] == nil {
				shared[c.Type] = map[string]types.Resource{}
			}
			if err := s.sharedUpdates(l, c.IDs, shared[c.Type]); err != nil {
				return err
			}
		default:
			// Per node: the new or changed resources, and the names no longer in the set.
			prev := map[int]bool{}
			for _, id := range before {
				prev[id] = true
			}
			update := map[string]types.Resource{}
			names := map[string]bool{}
			for _, id := range c.IDs {
				r := s.resources[id]
				names[r.name] = true
				if !prev[id] {
					update[r.name] = r.msg
				}
			}
			var remove []string
			for _, id := range before {
				if n := s.resources[id].name; !names[n] {
					remove = append(remove, n)
				}
			}
			if err := l.perNode[c.Node].UpdateResources(update, remove); err != nil {
				return err
			}
		}
	}
	for t, upd := range shared {
		if err := s.linear[t].shared.UpdateResources(upd, nil); err != nil {
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
			if req.Step != nil && (*req.Step < 0 || *req.Step >= len(sc.Steps)) {
				fail(fmt.Errorf("scenario %q has no step %d", req.Scenario, *req.Step))
				continue
			}
			at := make([]int64, 0, len(sc.Steps))
			var err error
			for i, step := range sc.Steps {
				if req.Step != nil && i != *req.Step {
					continue
				}
				if req.Step == nil && i > 0 && sc.IntervalMs > 0 {
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
		snapshots: cache.NewSnapshotCache(true, cache.IDHash{}, nil),
		linear:    map[int]*linearType{},
	}
	if err := s.add(d.Resources); err != nil {
		return nil, 0, nil, err
	}
	if err := s.load(); err != nil {
		return nil, 0, nil, err
	}
	caches := map[string]cache.Cache{"snapshot": s.snapshots}
	byURL := map[string]*linearType{}
	for _, l := range s.linear {
		byURL[l.url] = l
		if l.shared != nil {
			caches[l.key("")] = l.shared
		}
		for node, c := range l.perNode {
			caches[l.key(node)] = c
		}
	}
	classify := func(typeURL, node string) string {
		if l, ok := byURL[typeURL]; ok {
			return l.key(node)
		}
		return "snapshot"
	}
	mux := &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetTypeUrl(), r.GetNode().GetId()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetTypeUrl(), r.GetNode().GetId()) },
		Caches:        caches,
	}
	for t, l := range s.linear {
		mode := "shared"
		if l.shared == nil {
			mode = "per node"
		}
		fmt.Fprintf(os.Stderr, "gcp-server: %s from a linear cache (%s)\n", d.Types[t], mode)
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

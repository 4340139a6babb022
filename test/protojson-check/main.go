// protojson-check reads an Envoy admin config dump (envoy.admin.v3.ConfigDump in proto3 JSON, as printed by
// `weft replay --format json`, /debug/proxies/<id>/config, or an Envoy's /config_dump) on stdin and checks
// that it is standard proto3 JSON: protojson.Unmarshal must accept it, every google.protobuf.Any inside must
// resolve to a registered message, and printing the decoded message again with protojson (proto field
// names) must give the same JSON value back, so nothing in the input is in a non-canonical form (a Duration
// as {seconds, nanos}, an int64 as a number, a default value written out).
//
// Exit status: 0 when the dump is canonical, 1 when it is not (the reason on stderr), 2 on unreadable input.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"

	// Imported for their init side effects: they register every message Weft puts in an Any (resources and
	// the typed_config of filters, transport sockets, protocol options and load balancing policies).
	_ "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(in io.Reader, out, errOut io.Writer) int {
	raw, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(errOut, "reading stdin: %v\n", err)
		return 2
	}
	var given any
	if err := json.Unmarshal(raw, &given); err != nil {
		fmt.Fprintf(errOut, "stdin is not JSON: %v\n", err)
		return 2
	}
	dump := &adminv3.ConfigDump{}
	if err := protojson.Unmarshal(raw, dump); err != nil {
		fmt.Fprintf(errOut, "protojson.Unmarshal into envoy.admin.v3.ConfigDump: %v\n", err)
		return 1
	}
	again, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(dump)
	if err != nil {
		fmt.Fprintf(errOut, "protojson.Marshal of the decoded dump: %v\n", err)
		return 1
	}
	var canonical any
	if err := json.Unmarshal(again, &canonical); err != nil {
		fmt.Fprintf(errOut, "protojson printed invalid JSON: %v\n", err)
		return 1
	}
	if diffs := compare(given, canonical, ""); len(diffs) > 0 {
		fmt.Fprintf(errOut, "the dump decodes, but %d values are not in canonical proto3 JSON form (given vs protojson):\n", len(diffs))
		for i, d := range diffs {
			if i == 20 {
				fmt.Fprintf(errOut, "  ... and %d more\n", len(diffs)-i)
				break
			}
			fmt.Fprintf(errOut, "  %s\n", d)
		}
		return 1
	}
	configs := 0
	resources := 0
	for _, c := range dump.GetConfigs() {
		configs++
		m, err := c.UnmarshalNew()
		if err != nil {
			fmt.Fprintf(errOut, "config %s: %v\n", c.GetTypeUrl(), err)
			return 1
		}
		switch d := m.(type) {
		case *adminv3.ListenersConfigDump:
			resources += len(d.GetDynamicListeners())
		case *adminv3.ClustersConfigDump:
			resources += len(d.GetDynamicActiveClusters())
		case *adminv3.RoutesConfigDump:
			resources += len(d.GetDynamicRouteConfigs())
		case *adminv3.EndpointsConfigDump:
			resources += len(d.GetDynamicEndpointConfigs())
		case *adminv3.SecretsConfigDump:
			resources += len(d.GetDynamicActiveSecrets())
		}
	}
	fmt.Fprintf(out, "ok: envoy.admin.v3.ConfigDump with %d configs, %d dynamic resources, canonical proto3 JSON\n", configs, resources)
	return 0
}

// compare lists where two JSON values differ, with the path to each difference.
func compare(a, b any, path string) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			p := path + "." + k
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case !ain:
				out = append(out, fmt.Sprintf("%s: missing, protojson prints %s", p, show(bv)))
			case !bin:
				out = append(out, fmt.Sprintf("%s: given %s, protojson prints nothing (a default value, or a field it does not know)", p, show(av)))
			default:
				out = append(out, compare(av, bv, p)...)
			}
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if len(al) != len(bl) {
			return []string{fmt.Sprintf("%s: %d elements given, protojson prints %d", path, len(al), len(bl))}
		}
		var out []string
		for i := range al {
			out = append(out, compare(al[i], bl[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("%s: given %s, protojson prints %s", path, show(a), show(b))}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}

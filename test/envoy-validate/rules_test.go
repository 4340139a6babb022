package main

// Each load-time rule on hand-made minimal configurations: a baseline proxy that breaks no rule, and one
// mutation per rule that must make exactly that rule fire. Run with `go test` in test/envoy-validate.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}, ResourceApiVersion: corev3.ApiVersion_V3}
}

func routerFilter(t testing.TB) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}
}

func hcmFilter(t testing.TB, rds string, httpFilters ...*hcmv3.HttpFilter) *listenerv3.Filter {
	h := &hcmv3.HttpConnectionManager{
		StatPrefix:     "hcm",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: rds, ConfigSource: ads()}},
		HttpFilters:    httpFilters,
	}
	return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)}}
}

func tcpFilter(t testing.TB, cluster string) *listenerv3.Filter {
	tp := &tcpv3.TcpProxy{StatPrefix: "tcp", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster}}
	return &listenerv3.Filter{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, tp)}}
}

func rbacFilter(t testing.TB) *listenerv3.Filter {
	return &listenerv3.Filter{Name: "envoy.filters.network.rbac", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &netrbacv3.RBAC{StatPrefix: "rbac"})}}
}

func cidr(addr string, bits uint32) *corev3.CidrRange {
	return &corev3.CidrRange{AddressPrefix: addr, PrefixLen: wrapperspb.UInt32(bits)}
}

func socket(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func sds(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: ads()}
}

func transportSocket(t testing.TB, m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, m)}}
}

func httpChain(t testing.TB, name string, port uint32, rds string, ranges ...*corev3.CidrRange) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name:             name,
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port), PrefixRanges: ranges},
		Filters:          []*listenerv3.Filter{hcmFilter(t, rds, routerFilter(t))},
	}
}

func staticAssignment(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for _, a := range addrs {
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socket(a, 8080)}}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}}
}

// baseline is a small mesh sidecar in the shape Weft serves: an outbound listener (an HTTP chain per
// service on its ClusterIP, a TCP chain), an mTLS inbound listener, EDS and static clusters, the secrets.
func baseline(t testing.TB) *ProxyConfig {
	outbound := &listenerv3.Listener{
		Name:    "outbound-listener",
		Address: socket("0.0.0.0", 15001),
		FilterChains: []*listenerv3.FilterChain{
			httpChain(t, "outbound_ns/checkout_7000_http", 7000, "rds-outbound.7000", cidr("10.96.0.10", 32)),
			httpChain(t, "outbound_ns/checkout-v1_7000_http", 7000, "rds-outbound.7000", cidr("10.96.0.11", 32)),
			{
				Name:             "outbound_ns/db_5432_tcp",
				FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(5432), PrefixRanges: []*corev3.CidrRange{cidr("10.96.0.12", 32)}},
				Filters:          []*listenerv3.Filter{tcpFilter(t, "ns/db|5432")},
			},
		},
		DefaultFilterChain: &listenerv3.FilterChain{Name: "passthrough", Filters: []*listenerv3.Filter{tcpFilter(t, "passthrough-outbound")}},
	}
	downstream := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("service-cert:ns/app")},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds("root-cert-for-mtls-inbound")},
		},
		RequireClientCertificate: wrapperspb.Bool(true),
	}
	inbound := &listenerv3.Listener{
		Name:    "inbound-listener",
		Address: socket("0.0.0.0", 15003),
		FilterChains: []*listenerv3.FilterChain{{
			Name: "inbound_ns/app_8080_http",
			FilterChainMatch: &listenerv3.FilterChainMatch{
				DestinationPort:      wrapperspb.UInt32(8080),
				ServerNames:          []string{"app.ns.svc.cluster.local"},
				TransportProtocol:    "tls",
				ApplicationProtocols: []string{"osm"},
			},
			Filters:         []*listenerv3.Filter{rbacFilter(t), hcmFilter(t, "rds-inbound.8080", routerFilter(t))},
			TransportSocket: transportSocket(t, downstream),
		}},
	}
	upstream := &tlsv3.UpstreamTlsContext{
		Sni: "checkout.ns.svc.cluster.local",
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("service-cert:ns/app")},
			ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds("root-cert-for-mtls-outbound:ns/checkout")},
		},
	}
	eds := func(name string) *clusterv3.Cluster {
		return &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
			ConnectTimeout:       durationpb.New(1e9),
			TransportSocket:      transportSocket(t, upstream),
		}
	}
	route := func(name, domain, cluster string) *routev3.RouteConfiguration {
		return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
			Name:    "vh-" + domain,
			Domains: []string{domain, domain + ":7000"},
			Routes: []*routev3.Route{{
				Name:   "all",
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
			}},
		}}}
	}
	inboundRoute := route("rds-inbound.8080", "app", "ns/app|8080|local")
	inboundRoute.VirtualHosts[0].Domains = []string{"*"}
	outRoute := route("rds-outbound.7000", "checkout", "ns/checkout|7000")
	outRoute.VirtualHosts = append(outRoute.VirtualHosts, route("", "checkout-v1", "ns/checkout-v1|7000").VirtualHosts...)
	return &ProxyConfig{
		Proxy:     "test/app",
		Listeners: []*listenerv3.Listener{outbound, inbound},
		Routes:    []*routev3.RouteConfiguration{outRoute, inboundRoute},
		Clusters: []*clusterv3.Cluster{
			eds("ns/checkout|7000"),
			eds("ns/checkout-v1|7000"),
			eds("ns/db|5432"),
			{
				Name:                 "ns/app|8080|local",
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
				ConnectTimeout:       durationpb.New(1e9),
				LoadAssignment:       staticAssignment("ns/app|8080|local", "127.0.0.1"),
			},
			{
				Name:                 "passthrough-outbound",
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
				LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
				ConnectTimeout:       durationpb.New(1e9),
			},
		},
		Endpoints: []*endpointv3.ClusterLoadAssignment{
			staticAssignment("ns/checkout|7000", "10.244.0.5"),
			staticAssignment("ns/checkout-v1|7000", "10.244.0.6"),
			staticAssignment("ns/db|5432", "10.244.0.7"),
		},
		Secrets: []*tlsv3.Secret{
			{Name: "service-cert:ns/app", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{}}},
			{Name: "root-cert-for-mtls-inbound", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}},
			{Name: "root-cert-for-mtls-outbound:ns/checkout", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}},
		},
	}
}

func listenerNamed(cfg *ProxyConfig, name string) *listenerv3.Listener {
	for _, l := range cfg.Listeners {
		if l.GetName() == name {
			return l
		}
	}
	return nil
}

func clusterNamed(cfg *ProxyConfig, name string) *clusterv3.Cluster {
	for _, c := range cfg.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// expectOnly asserts that the violations are all of one rule, at least one, and each reason contains want.
func expectOnly(t *testing.T, vs []Violation, rule, want string) {
	t.Helper()
	if len(vs) == 0 {
		t.Fatalf("expected a %s violation, got none", rule)
	}
	for _, v := range vs {
		if v.Rule != rule {
			t.Errorf("expected only %s violations, got: %s", rule, v)
		}
		if !strings.Contains(v.Reason, want) {
			t.Errorf("reason %q does not mention %q", v.Reason, want)
		}
	}
}

func TestBaselineBreaksNoRule(t *testing.T) {
	if vs := CheckProxy(baseline(t)); len(vs) != 0 {
		for _, v := range vs {
			t.Error(v)
		}
	}
}

// Defect 1: an inbound filter chain names rds-inbound.<port> but no such RouteConfiguration is served.
func TestRDSServed(t *testing.T) {
	cfg := baseline(t)
	cfg.Routes = cfg.Routes[:1] // drop rds-inbound.8080
	vs := CheckProxy(cfg)
	expectOnly(t, vs, RuleRDSServed, `"rds-inbound.8080", which is not served`)
	if vs[0].Resource != "inbound-listener" || vs[0].Type != "Listener" {
		t.Errorf("violation names the wrong resource: %s", vs[0])
	}
}

// Defect 2: two chains of one listener matching the same destination port and /32.
func TestFilterChainOverlapSamePortAndPrefix(t *testing.T) {
	cfg := baseline(t)
	out := listenerNamed(cfg, "outbound-listener")
	out.FilterChains[1].FilterChainMatch.PrefixRanges = []*corev3.CidrRange{cidr("10.96.0.10", 32)}
	vs := CheckProxy(cfg)
	expectOnly(t, vs, RuleFilterChainDup, "outbound_ns/checkout_7000_http")
	if len(vs) != 1 {
		t.Fatalf("want one violation, got %v", vs)
	}
	if !strings.Contains(vs[0].Reason, "same filter_chain_match") {
		t.Errorf("equal match messages are Envoy's first check: %s", vs[0])
	}
}

func TestFilterChainOverlapRules(t *testing.T) {
	match := func(port uint32, ranges ...*corev3.CidrRange) *listenerv3.FilterChainMatch {
		return &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port), PrefixRanges: ranges}
	}
	cases := []struct {
		name    string
		a, b    *listenerv3.FilterChainMatch
		overlap string // "" when the chains may coexist, else a fragment of the reason
	}{
		{"different /32s", match(7000, cidr("10.0.0.1", 32)), match(7000, cidr("10.0.0.2", 32)), ""},
		{"different ports", match(7000, cidr("10.0.0.1", 32)), match(7001, cidr("10.0.0.1", 32)), ""},
		{"one shared CIDR among several", match(7000, cidr("10.0.0.1", 32), cidr("10.0.0.2", 32)), match(7000, cidr("10.0.0.3", 32), cidr("10.0.0.2", 32)), "destination 10.0.0.2/32"},
		{"same CIDR written unmasked", match(7000, cidr("10.0.0.5", 24)), match(7000, cidr("10.0.0.0", 24), cidr("10.9.0.0", 16)), "destination 10.0.0.0/24"},
		{"nested CIDRs coexist (longest prefix wins)", match(7000, cidr("10.0.0.0", 24)), match(7000, cidr("10.0.0.1", 32)), ""},
		{"no match fields twice", &listenerv3.FilterChainMatch{}, nil, "same filter_chain_match"},
		{"port only vs port with CIDR", match(7000), match(7000, cidr("10.0.0.1", 32)), ""},
		{"server names differ", &listenerv3.FilterChainMatch{ServerNames: []string{"a.example"}}, &listenerv3.FilterChainMatch{ServerNames: []string{"b.example"}}, ""},
		{"server names compared lower-cased", &listenerv3.FilterChainMatch{ServerNames: []string{"A.example", "c.example"}}, &listenerv3.FilterChainMatch{ServerNames: []string{"a.example"}}, "server name a.example"},
		{"server name vs none", &listenerv3.FilterChainMatch{ServerNames: []string{"a.example"}}, &listenerv3.FilterChainMatch{}, ""},
		{"transport protocols differ", &listenerv3.FilterChainMatch{TransportProtocol: "tls"}, &listenerv3.FilterChainMatch{TransportProtocol: "raw_buffer"}, ""},
		{"shared ALPN", &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"h2", "osm"}}, &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"osm"}}, "application protocol osm"},
		{"source types differ", &listenerv3.FilterChainMatch{SourceType: listenerv3.FilterChainMatch_EXTERNAL}, &listenerv3.FilterChainMatch{}, ""},
		{"shared source CIDR", &listenerv3.FilterChainMatch{SourcePrefixRanges: []*corev3.CidrRange{cidr("192.168.0.0", 16)}, SourcePorts: []uint32{1}}, &listenerv3.FilterChainMatch{SourcePrefixRanges: []*corev3.CidrRange{cidr("192.168.1.1", 16)}}, ""},
		{"shared source CIDR and port", &listenerv3.FilterChainMatch{SourcePrefixRanges: []*corev3.CidrRange{cidr("192.168.0.0", 16)}, SourcePorts: []uint32{1, 2}}, &listenerv3.FilterChainMatch{SourcePrefixRanges: []*corev3.CidrRange{cidr("192.168.1.1", 16)}, SourcePorts: []uint32{2}}, "source port 2"},
		{"shared direct source CIDR", &listenerv3.FilterChainMatch{DirectSourcePrefixRanges: []*corev3.CidrRange{cidr("::1", 128)}, TransportProtocol: "tls"}, &listenerv3.FilterChainMatch{DirectSourcePrefixRanges: []*corev3.CidrRange{cidr("::1", 128), cidr("::2", 128)}, TransportProtocol: "tls"}, "direct source ::1/128"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &listenerv3.Listener{
				Name:    "l",
				Address: socket("0.0.0.0", 1),
				FilterChains: []*listenerv3.FilterChain{
					{Name: "a", FilterChainMatch: tc.a, Filters: []*listenerv3.Filter{tcpFilter(t, "c")}},
					{Name: "b", FilterChainMatch: tc.b, Filters: []*listenerv3.Filter{tcpFilter(t, "c")}},
				},
			}
			cfg := &ProxyConfig{Proxy: "p", Listeners: []*listenerv3.Listener{l}, Clusters: []*clusterv3.Cluster{{
				Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}, LoadAssignment: staticAssignment("c", "10.0.0.9"),
			}}}
			vs := CheckProxy(cfg)
			if tc.overlap == "" {
				for _, v := range vs {
					t.Errorf("unexpected: %s", v)
				}
				return
			}
			expectOnly(t, vs, RuleFilterChainDup, tc.overlap)
		})
	}
}

func TestFilterChainRepeatsItself(t *testing.T) {
	cfg := baseline(t)
	listenerNamed(cfg, "outbound-listener").FilterChains[0].FilterChainMatch.PrefixRanges = []*corev3.CidrRange{cidr("10.96.0.10", 32), cidr("10.96.0.10", 32)}
	expectOnly(t, CheckProxy(cfg), RuleFilterChainDup, "lists the same match twice")
}

func TestFilterChainMatchFieldsEnvoyRefuses(t *testing.T) {
	for name, mutate := range map[string]func(m *listenerv3.FilterChainMatch){
		"partial wildcard": func(m *listenerv3.FilterChainMatch) { m.ServerNames = []string{"a*.example"} },
		"address_suffix":   func(m *listenerv3.FilterChainMatch) { m.AddressSuffix = "x" },
		"not an IP":        func(m *listenerv3.FilterChainMatch) { m.PrefixRanges = []*corev3.CidrRange{cidr("svc.ns", 32)} },
		"prefix too long":  func(m *listenerv3.FilterChainMatch) { m.PrefixRanges = []*corev3.CidrRange{cidr("10.0.0.1", 33)} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := baseline(t)
			mutate(listenerNamed(cfg, "outbound-listener").FilterChains[0].FilterChainMatch)
			expectOnly(t, CheckProxy(cfg), RuleFilterChainMatch, "filter chain")
		})
	}
	t.Run("full wildcard is fine", func(t *testing.T) {
		cfg := baseline(t)
		listenerNamed(cfg, "outbound-listener").FilterChains[0].FilterChainMatch.ServerNames = []string{"*.example"}
		if vs := CheckProxy(cfg); len(vs) != 0 {
			t.Error(vs)
		}
	})
}

func TestFilterChainMatcherNeedsUniqueNames(t *testing.T) {
	// Identical matches are fine under a matcher (the tree is not built) but names must be unique.
	cfg2 := baseline(t)
	l2 := listenerNamed(cfg2, "outbound-listener")
	l2.FilterChains[1].FilterChainMatch = proto.Clone(l2.FilterChains[0].FilterChainMatch).(*listenerv3.FilterChainMatch)
	l2.FilterChains[1].Name = l2.FilterChains[0].Name
	l2.FilterChainMatcher = &matcherv3.Matcher{}
	expectOnly(t, CheckProxy(cfg2), RuleFilterChainDup, "is duplicated")
	l2.FilterChains[1].Name = "other"
	if vs := CheckProxy(cfg2); len(vs) != 0 {
		t.Error(vs)
	}
}

func TestHTTPRouterLast(t *testing.T) {
	cfg := baseline(t)
	out := listenerNamed(cfg, "outbound-listener")
	rbacHTTP := &hcmv3.HttpFilter{Name: "envoy.filters.http.rbac", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}
	rbacHTTP.GetTypedConfig().TypeUrl = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
	rbacHTTP.GetTypedConfig().Value = nil
	out.FilterChains[0].Filters = []*listenerv3.Filter{hcmFilter(t, "rds-outbound.7000", routerFilter(t), rbacHTTP)}
	vs := CheckProxy(cfg)
	expectOnly(t, vs, RuleHTTPRouterLast, "last filter in a http filter chain")
	if len(vs) != 2 { // router not last, and a non-terminal filter last
		t.Errorf("want 2 violations, got %v", vs)
	}
	out.FilterChains[0].Filters = []*listenerv3.Filter{hcmFilter(t, "rds-outbound.7000")}
	expectOnly(t, CheckProxy(cfg), RuleHTTPRouterLast, "no HTTP filters")
}

func TestNetworkTerminalFilters(t *testing.T) {
	cfg := baseline(t)
	in := listenerNamed(cfg, "inbound-listener")
	in.FilterChains[0].Filters = []*listenerv3.Filter{in.FilterChains[0].Filters[1], in.FilterChains[0].Filters[0]} // HCM, then RBAC
	vs := CheckProxy(cfg)
	expectOnly(t, vs, RuleNetworkTerminal, "last filter in a network filter chain")
	if len(vs) != 2 {
		t.Errorf("want 2 violations (terminal not last, non-terminal last), got %v", vs)
	}
}

func TestVirtualHostDomainsUnique(t *testing.T) {
	cfg := baseline(t)
	cfg.Routes[0].VirtualHosts[1].Domains = append(cfg.Routes[0].VirtualHosts[1].Domains, "Checkout")
	expectOnly(t, CheckProxy(cfg), RuleVHostDomains, `domain "checkout"`)

	cfg = baseline(t)
	cfg.Routes[0].VirtualHosts[0].Domains = []string{"*"}
	cfg.Routes[0].VirtualHosts[1].Domains = []string{"*"}
	expectOnly(t, CheckProxy(cfg), RuleVHostDomains, "single wildcard")

	// A suffix wildcard and a prefix wildcard with the same text are different keys.
	cfg = baseline(t)
	cfg.Routes[0].VirtualHosts[0].Domains = []string{"*.example"}
	cfg.Routes[0].VirtualHosts[1].Domains = []string{".example*"}
	if vs := CheckProxy(cfg); len(vs) != 0 {
		t.Error(vs)
	}
}

func TestListenerAddressesUnique(t *testing.T) {
	cfg := baseline(t)
	listenerNamed(cfg, "inbound-listener").Address = socket("0.0.0.0", 15001)
	expectOnly(t, CheckProxy(cfg), RuleListenerAddress, "0.0.0.0:15001")

	// Port 0 binds a fresh port each time: no conflict.
	cfg = baseline(t)
	listenerNamed(cfg, "inbound-listener").Address = socket("0.0.0.0", 0)
	listenerNamed(cfg, "outbound-listener").Address = socket("0.0.0.0", 0)
	if vs := CheckProxy(cfg); len(vs) != 0 {
		t.Error(vs)
	}
}

func TestCDSServed(t *testing.T) {
	cfg := baseline(t)
	cfg.Clusters = cfg.Clusters[1:] // drop ns/checkout|7000, which a route names
	expectOnly(t, CheckProxy(cfg), RuleCDSServed, `"ns/checkout|7000", which is not served`)

	cfg = baseline(t)
	listenerNamed(cfg, "outbound-listener").FilterChains[2].Filters = []*listenerv3.Filter{tcpFilter(t, "ns/gone|5432")}
	expectOnly(t, CheckProxy(cfg), RuleCDSServed, `tcp_proxy names cluster "ns/gone|5432"`)
}

func TestEDSServed(t *testing.T) {
	cfg := baseline(t)
	cfg.Endpoints = cfg.Endpoints[1:]
	expectOnly(t, CheckProxy(cfg), RuleEDSServed, `"ns/checkout|7000" is not served`)

	// service_name decides which assignment the cluster asks for.
	cfg = baseline(t)
	clusterNamed(cfg, "ns/db|5432").EdsClusterConfig.ServiceName = "ns/db"
	expectOnly(t, CheckProxy(cfg), RuleEDSServed, `"ns/db" is not served`)
}

func TestSDSServed(t *testing.T) {
	cfg := baseline(t)
	cfg.Secrets = cfg.Secrets[:2] // drop root-cert-for-mtls-outbound:ns/checkout
	vs := CheckProxy(cfg)
	expectOnly(t, vs, RuleSDSServed, `"root-cert-for-mtls-outbound:ns/checkout"`)
	if len(vs) != 3 { // three clusters carry that upstream context
		t.Errorf("want 3, got %v", vs)
	}

	cfg = baseline(t)
	cfg.Secrets[0].Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}
	expectOnly(t, CheckProxy(cfg), RuleSDSServed, "to hold a tls_certificate")
}

func TestTLSCertificate(t *testing.T) {
	cfg := baseline(t)
	in := listenerNamed(cfg, "inbound-listener")
	in.FilterChains[0].TransportSocket = transportSocket(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}})
	expectOnly(t, CheckProxy(cfg), RuleTLSCertificate, "no certificate")

	in.FilterChains[0].TransportSocket = transportSocket(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificates:                []*tlsv3.TlsCertificate{{}},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("service-cert:ns/app")},
	}})
	expectOnly(t, CheckProxy(cfg), RuleTLSCertificate, "mixes inline and SDS")

	// Inline material alone is fine.
	in.FilterChains[0].TransportSocket = transportSocket(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{{}}}})
	if vs := CheckProxy(cfg); len(vs) != 0 {
		t.Error(vs)
	}
}

func TestClusterDiscovery(t *testing.T) {
	cases := map[string]struct {
		mutate func(cfg *ProxyConfig)
		want   string
	}{
		"EDS without eds_cluster_config": {func(cfg *ProxyConfig) { clusterNamed(cfg, "ns/db|5432").EdsClusterConfig = nil }, "without an EDS config"},
		"EDS with inline endpoints": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "ns/db|5432").LoadAssignment = staticAssignment("ns/db|5432", "10.0.0.1")
		}, "ignores"},
		"STATIC without endpoints": {func(cfg *ProxyConfig) { clusterNamed(cfg, "ns/app|8080|local").LoadAssignment = nil }, "arrive nowhere"},
		"STATIC with a hostname": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "ns/app|8080|local").LoadAssignment = staticAssignment("ns/app|8080|local", "localhost")
		}, "not an IP address"},
		"ORIGINAL_DST with endpoints": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "passthrough-outbound").LoadAssignment = staticAssignment("passthrough-outbound", "10.0.0.1")
		}, "no load assignment"},
		"ORIGINAL_DST round robin": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "passthrough-outbound").LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		}, "only CLUSTER_PROVIDED"},
		"CLUSTER_PROVIDED on STATIC": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "ns/app|8080|local").LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		}, "cannot be combined"},
		"eds_cluster_config on STATIC": {func(cfg *ProxyConfig) {
			clusterNamed(cfg, "ns/app|8080|local").EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()}
		}, "non-EDS"},
		"LOGICAL_DNS with two hosts": {func(cfg *ProxyConfig) {
			c := clusterNamed(cfg, "ns/app|8080|local")
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
			c.LoadAssignment = staticAssignment(c.Name, "a.example", "b.example")
		}, "single lb_endpoint"},
		"STRICT_DNS without endpoints": {func(cfg *ProxyConfig) {
			c := clusterNamed(cfg, "ns/app|8080|local")
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
			c.LoadAssignment = nil
		}, "nothing to resolve"},
		"EDS assignment with a hostname": {func(cfg *ProxyConfig) { cfg.Endpoints[0] = staticAssignment("ns/checkout|7000", "checkout.ns") }, "not an IP address"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := baseline(t)
			tc.mutate(cfg)
			expectOnly(t, CheckProxy(cfg), RuleClusterDiscovery, tc.want)
		})
	}
	t.Run("STRICT_DNS with a hostname is fine", func(t *testing.T) {
		cfg := baseline(t)
		c := clusterNamed(cfg, "ns/app|8080|local")
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.LoadAssignment = staticAssignment(c.Name, "api.example")
		if vs := CheckProxy(cfg); len(vs) != 0 {
			t.Error(vs)
		}
	})
}

func TestUniqueNames(t *testing.T) {
	cfg := baseline(t)
	cfg.Clusters = append(cfg.Clusters, proto.Clone(cfg.Clusters[0]).(*clusterv3.Cluster))
	expectOnly(t, CheckProxy(cfg), RuleUniqueNames, "served twice")
}

// ---- the JSON input and report, end to end through runProxies ----

func proxyLine(t *testing.T, cfg *ProxyConfig, rename map[string]string) []byte {
	t.Helper()
	enc := func(ms []proto.Message) []resourceInput {
		var out []resourceInput
		for _, m := range ms {
			a := mustAny(t, m)
			raw, err := proto.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			name := resourceName(m)
			if r, ok := rename[name]; ok {
				name = r
			}
			out = append(out, resourceInput{Name: name, Any: base64.StdEncoding.EncodeToString(raw)})
		}
		return out
	}
	in := proxyInput{Proxy: cfg.Proxy}
	var ls, rs, cs, es, ss []proto.Message
	for _, m := range cfg.Listeners {
		ls = append(ls, m)
	}
	for _, m := range cfg.Routes {
		rs = append(rs, m)
	}
	for _, m := range cfg.Clusters {
		cs = append(cs, m)
	}
	for _, m := range cfg.Endpoints {
		es = append(es, m)
	}
	for _, m := range cfg.Secrets {
		ss = append(ss, m)
	}
	in.Listeners, in.Routes, in.Clusters, in.Endpoints, in.Secrets = enc(ls), enc(rs), enc(cs), enc(es), enc(ss)
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunProxiesReport(t *testing.T) {
	good := proxyLine(t, baseline(t), nil)
	bad := baseline(t)
	bad.Proxy = "bad"
	bad.Routes = bad.Routes[:1]
	badLine := proxyLine(t, bad, nil)

	var out bytes.Buffer
	if code := runProxies(bytes.NewReader(append(good, '\n')), &out, false, false); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "checked 1 proxies") {
		t.Errorf("no summary: %s", out.String())
	}

	out.Reset()
	input := append(append(append(good, '\n'), badLine...), '\n')
	if code := runProxies(bytes.NewReader(input), &out, true, false); code != 1 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err, out.String())
	}
	if rep.Proxies != 2 || len(rep.Violations) != 1 || rep.Violations[0].Rule != RuleRDSServed || rep.Violations[0].Proxy != "bad" {
		t.Errorf("unexpected report: %+v", rep)
	}

	out.Reset()
	if code := runProxies(strings.NewReader("{\"proxy\": 1}\n"), &out, false, false); code != 2 {
		t.Errorf("bad input: exit %d", code)
	}
	out.Reset()
	if code := runProxies(strings.NewReader("\n"), &out, false, false); code != 2 {
		t.Errorf("no input: exit %d", code)
	}
}

func TestServedNameAndValidateInProxyMode(t *testing.T) {
	// Served under another name than its own: references to the served name stay unresolved.
	var out bytes.Buffer
	line := proxyLine(t, baseline(t), map[string]string{"rds-inbound.8080": "rds-inbound.9090"})
	if code := runProxies(bytes.NewReader(line), &out, false, false); code != 1 || !strings.Contains(out.String(), RuleServedName) {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
	// ValidateAll still runs on every resource: a cluster without a name.
	cfg := baseline(t)
	cfg.Clusters[0].Name = ""
	out.Reset()
	if code := runProxies(bytes.NewReader(proxyLine(t, cfg, nil)), &out, false, false); code != 1 || !strings.Contains(out.String(), RuleValidate) {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
	// JSON resources decode too.
	js, err := protojson.Marshal(cfg.Listeners[0])
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	in := `{"proxy":"j","listeners":[{"name":"outbound-listener","json":` + string(js) + `}]}`
	if code := runProxies(strings.NewReader(in), &out, false, false); code != 1 || !strings.Contains(out.String(), RuleRDSServed) {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}

// A test client that subscribed to some types (or some names) holds part of a configuration: with those
// sections partial, references into them are not required to be served, and every other rule still holds.
func TestPartialSections(t *testing.T) {
	cfg := baseline(t)
	cfg.Routes, cfg.Endpoints, cfg.Secrets = nil, nil, nil
	cfg.Clusters = cfg.Clusters[1:] // drop ns/checkout|7000, which a route would name
	whole := CheckProxy(cfg)
	for _, rule := range []string{RuleRDSServed, RuleEDSServed, RuleSDSServed} {
		if !hasRule(whole, rule) {
			t.Errorf("as a whole configuration it breaks %s: %v", rule, whole)
		}
	}
	cfg.Partial = map[string]bool{"routes": true, "endpoints": true, "secrets": true}
	if vs := CheckProxy(cfg); len(vs) != 0 {
		t.Errorf("partial routes, endpoints and secrets: want no violation, got %v", vs)
	}

	// Clusters partial: a route naming an unheld cluster is not a violation; with clusters whole it is.
	cfg = baseline(t)
	cfg.Clusters = cfg.Clusters[1:]
	cfg.Partial = map[string]bool{"clusters": true}
	if vs := CheckProxy(cfg); len(vs) != 0 {
		t.Errorf("partial clusters: want no violation, got %v", vs)
	}

	// What is held is still checked: a held secret of the wrong kind, a router that is not last.
	cfg = baseline(t)
	cfg.Partial = map[string]bool{"routes": true, "clusters": true, "endpoints": true, "secrets": true}
	cfg.Secrets[0].Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}
	expectOnly(t, CheckProxy(cfg), RuleSDSServed, "to hold a tls_certificate")
	cfg = baseline(t)
	cfg.Partial = map[string]bool{"routes": true, "clusters": true, "endpoints": true, "secrets": true}
	cfg.Routes = nil
	listenerNamed(cfg, "outbound-listener").FilterChains[0].Filters = []*listenerv3.Filter{hcmFilter(t, "rds-outbound")}
	expectOnly(t, CheckProxy(cfg), RuleHTTPRouterLast, "no HTTP filters")
}

func hasRule(vs []Violation, rule string) bool {
	for _, v := range vs {
		if v.Rule == rule {
			return true
		}
	}
	return false
}

// The "partial" field of an input line needs -partial, and names sections only.
func TestPartialInput(t *testing.T) {
	cfg := baseline(t)
	cfg.Routes = nil
	var line map[string]any
	if err := json.Unmarshal(proxyLine(t, cfg, nil), &line); err != nil {
		t.Fatal(err)
	}
	withPartial := func(sections ...string) []byte {
		line["partial"] = sections
		b, err := json.Marshal(line)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	var out bytes.Buffer
	if code := runProxies(bytes.NewReader(withPartial("routes")), &out, false, false); code != 2 || !strings.Contains(out.String(), "needs -partial") {
		t.Errorf("partial line without -partial: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := runProxies(bytes.NewReader(withPartial("route")), &out, false, true); code != 2 || !strings.Contains(out.String(), `"route" is not one of`) {
		t.Errorf("unknown section: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := runProxies(bytes.NewReader(withPartial("routes")), &out, false, true); code != 0 {
		t.Errorf("routes partial: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := runProxies(bytes.NewReader(withPartial()), &out, false, true); code != 1 || !strings.Contains(out.String(), RuleRDSServed) {
		t.Errorf("nothing partial, routes missing: exit %d:\n%s", code, out.String())
	}
}

package main

// The rules Envoy applies when it loads a proxy's whole configuration, beyond the per-message constraints
// of ValidateAll. Each rule names the Envoy source it follows; README.md lists them with their sources.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Rule ids, as they appear in reports.
const (
	RuleDecode           = "decode"              // the resource does not decode as its section's type
	RuleValidate         = "validate"            // go-control-plane ValidateAll (protoc-gen-validate constraints)
	RuleServedName       = "served-name"         // the name a resource is served under is its own name
	RuleUniqueNames      = "unique-names"        // no two resources of one type share a name
	RuleRDSServed        = "rds-served"          // every RouteConfiguration an HCM names is served
	RuleCDSServed        = "cds-served"          // every cluster a route or tcp_proxy names is served
	RuleEDSServed        = "eds-served"          // every EDS cluster's ClusterLoadAssignment is served
	RuleSDSServed        = "sds-served"          // every secret a TLS context names is served, of the right kind
	RuleTLSCertificate   = "tls-certificate"     // a server (downstream) TLS context has a certificate
	RuleFilterChainMatch = "filter-chain-match"  // the match fields Envoy refuses (partial wildcards, suffixes, bad CIDRs)
	RuleFilterChainDup   = "filter-chain-unique" // no two filter chains of a listener have overlapping effective matches
	RuleNetworkTerminal  = "network-terminal"    // a terminal network filter (HCM, tcp_proxy) is last, and the last is terminal
	RuleHTTPRouterLast   = "http-router-last"    // the router is the last HTTP filter, and only there
	RuleVHostDomains     = "vhost-domains"       // virtual-host domains are unique within a route configuration
	RuleListenerAddress  = "listener-address"    // no two listeners have the same address
	RuleClusterDiscovery = "cluster-discovery"   // a cluster's discovery type agrees with how its endpoints arrive
)

const (
	hcmURL    = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	tcpURL    = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	routerURL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
)

// terminalNetworkFilters are the network filters whose factories say isTerminalFilterByProto = true
// (Config::Utility::validateTerminalFilters, called from
// ProdListenerComponentFactory::createNetworkFilterFactoryListImpl). Only those Weft may emit and their
// common siblings are listed; any other type counts as non-terminal.
var terminalNetworkFilters = map[string]bool{
	hcmURL: true,
	tcpURL: true,
	"type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config":     true,
	"type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo":                  true,
	"type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy":     true,
	"type.googleapis.com/envoy.extensions.filters.network.thrift_proxy.v3.ThriftProxy":   true,
	"type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy":     true,
	"type.googleapis.com/envoy.extensions.filters.network.generic_proxy.v3.GenericProxy": true,
}

// checker holds one proxy's configuration, indexed by name, and collects violations.
type checker struct {
	cfg       *ProxyConfig
	routes    map[string]*routev3.RouteConfiguration
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	secrets   map[string]*tlsv3.Secret
	out       []Violation
}

func (c *checker) add(rule, typ, resource, format string, args ...any) {
	c.out = append(c.out, Violation{Proxy: c.cfg.Proxy, Rule: rule, Type: typ, Resource: resource, Reason: fmt.Sprintf(format, args...)})
}

// CheckProxy applies every load-time rule to one proxy's configuration.
func CheckProxy(cfg *ProxyConfig) []Violation {
	c := &checker{
		cfg:       cfg,
		routes:    map[string]*routev3.RouteConfiguration{},
		clusters:  map[string]*clusterv3.Cluster{},
		endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
		secrets:   map[string]*tlsv3.Secret{},
	}
	c.uniqueNames()
	for _, l := range cfg.Listeners {
		c.listener(l)
	}
	c.listenerAddresses()
	for _, r := range cfg.Routes {
		c.routeConfiguration("RouteConfiguration", r.GetName(), r)
	}
	for _, cl := range cfg.Clusters {
		c.cluster(cl)
	}
	for _, e := range cfg.Endpoints {
		c.loadAssignment(e)
	}
	return c.out
}

// uniqueNames indexes the served resources. A state-of-the-world response naming one resource twice is
// refused as a whole: LdsApi::onConfigUpdate ("duplicate listener ... found",
// source/common/listener_manager/lds_api.cc) and CdsApiHelper::onConfigUpdate ("duplicate cluster ...
// found", source/common/upstream/cds_api_helper.cc); for RDS, EDS and SDS the later copy silently wins,
// which is a defect of the server all the same.
func (c *checker) uniqueNames() {
	seen := map[string]bool{}
	dup := func(typ, name string) bool {
		k := typ + "\x00" + name
		if seen[k] {
			c.add(RuleUniqueNames, typ, name, "served twice in one response: Envoy refuses a state-of-the-world update that names a resource twice")
			return true
		}
		seen[k] = true
		return false
	}
	for _, l := range c.cfg.Listeners {
		dup("Listener", l.GetName())
	}
	for _, r := range c.cfg.Routes {
		if !dup("RouteConfiguration", r.GetName()) {
			c.routes[r.GetName()] = r
		}
	}
	for _, cl := range c.cfg.Clusters {
		if !dup("Cluster", cl.GetName()) {
			c.clusters[cl.GetName()] = cl
		}
	}
	for _, e := range c.cfg.Endpoints {
		if !dup("ClusterLoadAssignment", e.GetClusterName()) {
			c.endpoints[e.GetClusterName()] = e
		}
	}
	for _, s := range c.cfg.Secrets {
		if !dup("Secret", s.GetName()) {
			c.secrets[s.GetName()] = s
		}
	}
}

// unpackOrNil decodes an Any; nil when it does not decode (rule "validate" already reports that).
func unpackOrNil(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		return nil
	}
	return m
}

func chainLabel(fc *listenerv3.FilterChain, i int) string {
	if fc.GetName() != "" {
		return fmt.Sprintf("%q", fc.GetName())
	}
	return fmt.Sprintf("#%d", i)
}

func (c *checker) listener(l *listenerv3.Listener) {
	name := l.GetName()
	type labelled struct {
		fc    *listenerv3.FilterChain
		label string
	}
	chains := make([]labelled, 0, len(l.GetFilterChains())+1)
	for i, fc := range l.GetFilterChains() {
		chains = append(chains, labelled{fc, "filter chain " + chainLabel(fc, i)})
	}
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, labelled{l.GetDefaultFilterChain(), "default filter chain"})
	}
	for _, ch := range chains {
		c.networkFilters(name, ch.label, ch.fc.GetFilters())
		if ts := ch.fc.GetTransportSocket(); ts != nil {
			c.tlsContexts("Listener", name, ch.label, unpackOrNil(ts.GetTypedConfig()))
		}
	}
	c.filterChainMatches(l)
}

// networkFilters checks one chain's filters: terminal placement, and what HCMs and tcp_proxies reference.
func (c *checker) networkFilters(listener, chain string, filters []*listenerv3.Filter) {
	for i, f := range filters {
		url := f.GetTypedConfig().GetTypeUrl()
		last := i == len(filters)-1
		// Config::Utility::validateTerminalFilters (source/common/config/utility.cc).
		if terminalNetworkFilters[url] && !last {
			c.add(RuleNetworkTerminal, "Listener", listener, "%s: terminal filter %q (%s) must be the last filter in a network filter chain", chain, f.GetName(), shortType(url))
		}
		if !terminalNetworkFilters[url] && last && f.GetTypedConfig() != nil {
			c.add(RuleNetworkTerminal, "Listener", listener, "%s: non-terminal filter %q (%s) is the last filter in a network filter chain", chain, f.GetName(), shortType(url))
		}
		switch m := unpackOrNil(f.GetTypedConfig()).(type) {
		case *hcmv3.HttpConnectionManager:
			c.hcm(listener, chain, m)
		case *tcpv3.TcpProxy:
			c.tcpProxy(listener, chain, m)
		}
	}
}

func (c *checker) hcm(listener, chain string, h *hcmv3.HttpConnectionManager) {
	// RdsRouteConfigSubscription (source/common/router/rds_impl.cc) registers with the listener's init
	// manager; the listener stays warming until the RouteConfiguration arrives or the initial fetch times out.
	if rds := h.GetRds(); rds != nil {
		if _, ok := c.routes[rds.GetRouteConfigName()]; !ok && !c.cfg.Partial["routes"] {
			c.add(RuleRDSServed, "Listener", listener, "%s: HttpConnectionManager names RouteConfiguration %q, which is not served: Envoy keeps the listener warming until the initial fetch timeout, then serves it with no routes", chain, rds.GetRouteConfigName())
		}
	}
	if rc := h.GetRouteConfig(); rc != nil {
		c.routeConfiguration("Listener", listener+" "+chain+" inline route_config", rc)
	}
	// HttpConnectionManagerConfig::processFilter -> Config::Utility::validateTerminalFilters: the last
	// HTTP filter must be terminal (the router) and a terminal filter must be last.
	filters := h.GetHttpFilters()
	if len(filters) == 0 {
		c.add(RuleHTTPRouterLast, "Listener", listener, "%s: HttpConnectionManager has no HTTP filters, so no router", chain)
	}
	for i, f := range filters {
		isRouter := f.GetTypedConfig().GetTypeUrl() == routerURL
		last := i == len(filters)-1
		if isRouter && !last {
			c.add(RuleHTTPRouterLast, "Listener", listener, "%s: terminal filter %q (router) must be the last filter in a http filter chain", chain, f.GetName())
		}
		if !isRouter && last {
			c.add(RuleHTTPRouterLast, "Listener", listener, "%s: non-terminal filter %q (%s) is the last filter in a http filter chain", chain, f.GetName(), shortType(f.GetTypedConfig().GetTypeUrl()))
		}
	}
}

func (c *checker) tcpProxy(listener, chain string, t *tcpv3.TcpProxy) {
	var names []string
	if t.GetCluster() != "" {
		names = append(names, t.GetCluster())
	}
	for _, w := range t.GetWeightedClusters().GetClusters() {
		names = append(names, w.GetName())
	}
	for _, n := range names {
		if _, ok := c.clusters[n]; !ok && !c.cfg.Partial["clusters"] {
			c.add(RuleCDSServed, "Listener", listener, "%s: tcp_proxy names cluster %q, which is not served: every connection is closed (no cluster)", chain, n)
		}
	}
}

// routeConfiguration checks virtual-host domains (RouteMatcher::RouteMatcher,
// source/common/router/config_impl.cc) and that every cluster a route names is served.
func (c *checker) routeConfiguration(typ, resource string, rc *routev3.RouteConfiguration) {
	// Envoy lower-cases each domain, then files it under one of four keys: the single "*", a suffix
	// wildcard "*x" (keyed by x), a prefix wildcard "x*" (keyed by x) or an exact name; a second entry under
	// the same key refuses the whole RouteConfiguration.
	owner := map[string]string{}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			domain := strings.ToLower(d)
			var key string
			switch {
			case domain == "*":
				key = "*"
			case strings.HasPrefix(domain, "*"):
				key = "suffix:" + domain[1:]
			case strings.HasSuffix(domain, "*"):
				key = "prefix:" + domain[:len(domain)-1]
			default:
				key = "exact:" + domain
			}
			if prev, ok := owner[key]; ok {
				if domain == "*" {
					c.add(RuleVHostDomains, typ, resource, "virtual hosts %q and %q both hold \"*\": Envoy permits a single wildcard domain in route %q", prev, vh.GetName(), rc.GetName())
				} else {
					c.add(RuleVHostDomains, typ, resource, "virtual hosts %q and %q both hold domain %q: Envoy refuses route %q (only unique values for domains are permitted)", prev, vh.GetName(), domain, rc.GetName())
				}
				continue
			}
			owner[key] = vh.GetName()
		}
		for _, r := range vh.GetRoutes() {
			c.routeClusters(typ, resource, vh.GetName(), r)
		}
	}
}

func (c *checker) routeClusters(typ, resource, vhost string, r *routev3.Route) {
	action := r.GetRoute()
	if action == nil {
		return
	}
	var names []string
	if action.GetCluster() != "" {
		names = append(names, action.GetCluster())
	}
	for _, w := range action.GetWeightedClusters().GetClusters() {
		if w.GetName() != "" {
			names = append(names, w.GetName())
		}
	}
	for _, m := range action.GetRequestMirrorPolicies() {
		if m.GetCluster() != "" {
			names = append(names, m.GetCluster())
		}
	}
	for _, n := range names {
		if _, ok := c.clusters[n]; !ok && !c.cfg.Partial["clusters"] {
			// With validate_clusters true (the default for inline route configs) Envoy refuses the
			// configuration; with false it answers the route's requests 503 (no cluster).
			c.add(RuleCDSServed, typ, resource, "virtual host %q route %q names cluster %q, which is not served", vhost, r.GetName(), n)
		}
	}
}

// tlsContexts checks every TLS context found in a transport socket's config.
func (c *checker) tlsContexts(typ, resource, where string, m proto.Message) {
	switch t := m.(type) {
	case *tlsv3.DownstreamTlsContext:
		common := t.GetCommonTlsContext()
		// ServerContextConfigImpl (source/common/tls/server_context_config_impl.cc): "No TLS certificates
		// found for server context", and SDS and inline certificates may not be mixed.
		nInline, nSDS := len(common.GetTlsCertificates()), len(common.GetTlsCertificateSdsSecretConfigs())
		provider := common.GetTlsCertificateProviderInstance() != nil || common.GetTlsCertificateCertificateProviderInstance() != nil || common.GetCustomTlsCertificateSelector() != nil
		if nInline+nSDS == 0 && !provider {
			c.add(RuleTLSCertificate, typ, resource, "%s: DownstreamTlsContext has no certificate: Envoy refuses it (no TLS certificates found for server context)", where)
		}
		if nInline > 0 && nSDS > 0 {
			c.add(RuleTLSCertificate, typ, resource, "%s: DownstreamTlsContext mixes inline and SDS certificates, which Envoy refuses in server contexts", where)
		}
		c.commonTLS(typ, resource, where, common)
	case *tlsv3.UpstreamTlsContext:
		c.commonTLS(typ, resource, where, t.GetCommonTlsContext())
	}
}

// commonTLS checks that each secret a TLS context names through SDS is served and carries the kind of
// secret the context expects. A missing secret keeps the listener or cluster warming
// (SdsApi registers with the init manager, source/common/secret/sds_api.cc); one of the wrong kind is
// refused by the context's secret-update callback.
func (c *checker) commonTLS(typ, resource, where string, common *tlsv3.CommonTlsContext) {
	if common == nil {
		return
	}
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		c.secretRef(typ, resource, where, s, "tls_certificate")
	}
	if s := common.GetValidationContextSdsSecretConfig(); s != nil {
		c.secretRef(typ, resource, where, s, "validation_context")
	}
	if s := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); s != nil {
		c.secretRef(typ, resource, where, s, "validation_context")
	}
}

func (c *checker) secretRef(typ, resource, where string, ref *tlsv3.SdsSecretConfig, kind string) {
	s, ok := c.secrets[ref.GetName()]
	if !ok && c.cfg.Partial["secrets"] {
		return
	}
	if !ok {
		c.add(RuleSDSServed, typ, resource, "%s: TLS context names secret %q (%s), which is not served: Envoy keeps the %s warming until the initial fetch timeout", where, ref.GetName(), kind, strings.ToLower(typ))
		return
	}
	var has bool
	switch kind {
	case "tls_certificate":
		has = s.GetTlsCertificate() != nil
	case "validation_context":
		has = s.GetValidationContext() != nil
	}
	if !has {
		c.add(RuleSDSServed, typ, resource, "%s: TLS context expects secret %q to hold a %s, but the served secret holds something else", where, ref.GetName(), kind)
	}
}

// ---- filter chain matching -------------------------------------------------------------------------

// filterChainMatches follows FilterChainManagerImpl::addFilterChains
// (source/common/listener_manager/filter_chain_manager_impl.cc). Without a filter_chain_matcher, Envoy
//  1. refuses address_suffix / suffix_len ("unimplemented fields") and partial wildcard server names;
//  2. refuses a chain whose FilterChainMatch message equals an earlier chain's ("has the same matching
//     rules defined as");
//  3. files every chain in a tree keyed, level by level, by destination port (0 when unset), destination
//     CIDR (each prefix_range, normalized; "" when none), server name (lower-cased, "*.x" as ".x"; "" when
//     none), transport protocol ("" when unset), application protocol (each; "" when none), direct source
//     CIDR, source type, source CIDR and source port (0 when none); a leaf already taken means "multiple
//     filter chains with overlapping matching rules are defined".
//
// So two chains collide exactly when one combination of those per-dimension values (each repeated field
// expanded) is produced by both — CIDRs are compared as normalized strings, not by containment (10.0.0.0/8
// and 10.0.0.1/32 are different keys and coexist: the longest prefix wins at connection time).
// With a filter_chain_matcher the tree is not built; chains are found by name, which must be set and unique.
func (c *checker) filterChainMatches(l *listenerv3.Listener) {
	name := l.GetName()
	chains := l.GetFilterChains()
	if l.GetFilterChainMatcher() != nil {
		seen := map[string]bool{}
		for i, fc := range chains {
			switch {
			case fc.GetName() == "":
				c.add(RuleFilterChainDup, "Listener", name, "filter chain #%d has no name, which a listener with a filter_chain_matcher requires", i)
			case seen[fc.GetName()]:
				c.add(RuleFilterChainDup, "Listener", name, "filter chain name %q is duplicated, which a listener with a filter_chain_matcher refuses", fc.GetName())
			}
			seen[fc.GetName()] = true
		}
		return
	}
	type leafOwner struct {
		chain int
	}
	leaves := map[string]leafOwner{}
	reported := map[[2]int]bool{}
	for i, fc := range chains {
		label := chainLabel(fc, i)
		m := fc.GetFilterChainMatch()
		if m == nil {
			m = &listenerv3.FilterChainMatch{}
		}
		if m.GetAddressSuffix() != "" || m.GetSuffixLen() != nil {
			c.add(RuleFilterChainMatch, "Listener", name, "filter chain %s sets address_suffix/suffix_len, which Envoy refuses as unimplemented", label)
		}
		equal := false
		for j := 0; j < i; j++ {
			other := chains[j].GetFilterChainMatch()
			if other == nil {
				other = &listenerv3.FilterChainMatch{}
			}
			if proto.Equal(m, other) {
				c.add(RuleFilterChainDup, "Listener", name, "filter chain %s has the same filter_chain_match as filter chain %s: Envoy refuses the listener (same matching rules)", label, chainLabel(chains[j], j))
				equal = true
				break
			}
		}
		dims, problems := matchDimensions(m)
		for _, p := range problems {
			c.add(RuleFilterChainMatch, "Listener", name, "filter chain %s: %s", label, p)
		}
		if equal || len(problems) > 0 {
			continue
		}
		forEachLeaf(dims, func(leaf []string) {
			key := strings.Join(leaf, "\x00")
			prev, taken := leaves[key]
			if !taken {
				leaves[key] = leafOwner{chain: i}
				return
			}
			pair := [2]int{prev.chain, i}
			if reported[pair] {
				return
			}
			reported[pair] = true
			if prev.chain == i {
				c.add(RuleFilterChainDup, "Listener", name, "filter chain %s lists the same match twice (%s): Envoy refuses the listener (overlapping matching rules)", label, describeLeaf(leaf))
				return
			}
			c.add(RuleFilterChainDup, "Listener", name, "filter chains %s and %s both match %s: Envoy refuses the listener (multiple filter chains with overlapping matching rules)", chainLabel(chains[prev.chain], prev.chain), label, describeLeaf(leaf))
		})
	}
}

// dimensionNames label the levels of the filter chain tree, in Envoy's order.
var dimensionNames = []string{"destination port", "destination", "server name", "transport protocol", "application protocol", "direct source", "source type", "source", "source port"}

// matchDimensions expands a FilterChainMatch into the values it contributes at each level of the tree.
func matchDimensions(m *listenerv3.FilterChainMatch) ([][]string, []string) {
	var problems []string
	cidrs := func(field string, ranges []*corev3.CidrRange) []string {
		if len(ranges) == 0 {
			return []string{""}
		}
		out := make([]string, 0, len(ranges))
		for _, r := range ranges {
			s, err := normalizeCIDR(r)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", field, err))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	port := "0"
	if m.GetDestinationPort() != nil {
		port = strconv.FormatUint(uint64(m.GetDestinationPort().GetValue()), 10)
	}
	servers := []string{""}
	if len(m.GetServerNames()) > 0 {
		servers = servers[:0]
		for _, s := range m.GetServerNames() {
			if strings.Contains(s, "*") && !strings.HasPrefix(s, "*.") {
				problems = append(problems, fmt.Sprintf("server name %q is a partial wildcard, which Envoy refuses", s))
				continue
			}
			s = strings.ToLower(s)
			if strings.HasPrefix(s, "*.") {
				s = s[1:]
			}
			servers = append(servers, s)
		}
	}
	alpns := []string{""}
	if len(m.GetApplicationProtocols()) > 0 {
		alpns = m.GetApplicationProtocols()
	}
	sourcePorts := []string{"0"}
	if len(m.GetSourcePorts()) > 0 {
		sourcePorts = sourcePorts[:0]
		for _, p := range m.GetSourcePorts() {
			sourcePorts = append(sourcePorts, strconv.FormatUint(uint64(p), 10))
		}
	}
	dims := [][]string{
		{port},
		cidrs("prefix_ranges", m.GetPrefixRanges()),
		servers,
		{m.GetTransportProtocol()},
		alpns,
		cidrs("direct_source_prefix_ranges", m.GetDirectSourcePrefixRanges()),
		{m.GetSourceType().String()},
		cidrs("source_prefix_ranges", m.GetSourcePrefixRanges()),
		sourcePorts,
	}
	return dims, problems
}

// normalizeCIDR is Network::Address::CidrRange::create(...).asString(): the address masked to its length.
func normalizeCIDR(r *corev3.CidrRange) (string, error) {
	addr, err := netip.ParseAddr(r.GetAddressPrefix())
	if err != nil {
		return "", fmt.Errorf("%q is not an IP address", r.GetAddressPrefix())
	}
	bits := int(r.GetPrefixLen().GetValue())
	if bits > addr.BitLen() {
		return "", fmt.Errorf("prefix length %d is too long for %s", bits, addr)
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// forEachLeaf calls fn with every combination of one value per dimension.
func forEachLeaf(dims [][]string, fn func([]string)) {
	leaf := make([]string, len(dims))
	var rec func(int)
	rec = func(d int) {
		if d == len(dims) {
			fn(leaf)
			return
		}
		for _, v := range dims[d] {
			leaf[d] = v
			rec(d + 1)
		}
	}
	rec(0)
}

func describeLeaf(leaf []string) string {
	var parts []string
	for i, v := range leaf {
		if v == "" || (i == 0 && v == "0") || (i == 8 && v == "0") || (i == 6 && v == listenerv3.FilterChainMatch_ANY.String()) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", dimensionNames[i], v))
	}
	if len(parts) == 0 {
		return "every connection (no match fields)"
	}
	return strings.Join(parts, ", ")
}

// ---- listener addresses ------------------------------------------------------------------------------

// listenerAddresses follows ListenerManagerImpl::setNewOrDrainingSocketFactory and
// ListenerImpl::hasDuplicatedAddress (source/common/listener_manager/): a listener whose address equals
// another listener's (same socket type, same IP and port, or the same pipe) is refused with "has duplicate
// address ... as existing listener"; port 0 with bind_to_port is exempt (the kernel picks distinct ports).
func (c *checker) listenerAddresses() {
	owner := map[string]string{}
	for _, l := range c.cfg.Listeners {
		bind := l.GetBindToPort() == nil || l.GetBindToPort().GetValue()
		addrs := []*corev3.Address{l.GetAddress()}
		for _, a := range l.GetAdditionalAddresses() {
			addrs = append(addrs, a.GetAddress())
		}
		for _, a := range addrs {
			key, ok := addressKey(a, bind)
			if !ok {
				continue
			}
			if prev, taken := owner[key]; taken && prev != l.GetName() {
				c.add(RuleListenerAddress, "Listener", l.GetName(), "has the same address %s as listener %q: Envoy refuses it (duplicate address as existing listener)", key, prev)
				continue
			}
			owner[key] = l.GetName()
		}
	}
}

func addressKey(a *corev3.Address, bind bool) (string, bool) {
	if p := a.GetPipe(); p != nil {
		return "pipe " + p.GetPath(), true
	}
	if e := a.GetEnvoyInternalAddress(); e != nil {
		return "internal " + e.GetServerListenerName(), true
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", false
	}
	if sa.GetPortValue() == 0 && bind {
		return "", false
	}
	host := sa.GetAddress()
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	return fmt.Sprintf("%s %s", strings.ToLower(sa.GetProtocol().String()), net.JoinHostPort(host, strconv.FormatUint(uint64(sa.GetPortValue()), 10))), true
}

// ---- clusters and endpoints --------------------------------------------------------------------------

// cluster checks that the discovery type agrees with how the endpoints arrive (the cluster factories in
// source/extensions/clusters/: eds, static, strict_dns, logical_dns, original_dst; ClusterImplBase in
// source/common/upstream/upstream_impl.cc), that an EDS cluster's load assignment is served, and its TLS.
func (c *checker) cluster(cl *clusterv3.Cluster) {
	name := cl.GetName()
	if ts := cl.GetTransportSocket(); ts != nil {
		c.tlsContexts("Cluster", name, "transport_socket", unpackOrNil(ts.GetTypedConfig()))
	}
	for _, m := range cl.GetTransportSocketMatches() {
		c.tlsContexts("Cluster", name, "transport_socket_matches "+m.GetName(), unpackOrNil(m.GetTransportSocket().GetTypedConfig()))
	}
	if cl.GetClusterType() != nil {
		return // a custom cluster type brings its own rules
	}
	typ := cl.GetType()
	la := cl.GetLoadAssignment()
	if typ != clusterv3.Cluster_EDS && cl.GetEdsClusterConfig() != nil {
		c.add(RuleClusterDiscovery, "Cluster", name, "eds_cluster_config set in a non-EDS (%s) cluster, which Envoy refuses", typ)
	}
	if cl.GetLbPolicy() == clusterv3.Cluster_CLUSTER_PROVIDED && typ != clusterv3.Cluster_ORIGINAL_DST {
		c.add(RuleClusterDiscovery, "Cluster", name, "LB policy CLUSTER_PROVIDED cannot be combined with cluster type %s", typ)
	}
	switch typ {
	case clusterv3.Cluster_EDS:
		if cl.GetEdsClusterConfig() == nil {
			c.add(RuleClusterDiscovery, "Cluster", name, "EDS cluster without eds_cluster_config: Envoy refuses it (cannot create an EDS cluster without an EDS config)")
			return
		}
		// EdsClusterImpl subscribes to service_name (or the cluster's own name) and holds the cluster
		// warming until that ClusterLoadAssignment arrives or the initial fetch times out.
		want := cl.GetEdsClusterConfig().GetServiceName()
		if want == "" {
			want = name
		}
		if _, ok := c.endpoints[want]; !ok && !c.cfg.Partial["endpoints"] {
			c.add(RuleEDSServed, "Cluster", name, "EDS cluster's ClusterLoadAssignment %q is not served: Envoy keeps the cluster warming until the initial fetch timeout, then it has no hosts", want)
		}
		if la != nil {
			c.add(RuleClusterDiscovery, "Cluster", name, "EDS cluster also carries an inline load_assignment, which Envoy ignores: its endpoints come only from EDS")
		}
	case clusterv3.Cluster_STATIC:
		if countEndpoints(la) == 0 {
			c.add(RuleClusterDiscovery, "Cluster", name, "STATIC cluster without endpoints in load_assignment: its endpoints arrive nowhere, every request fails")
		}
		c.endpointsAreIPs("Cluster", name, la, "STATIC cluster")
	case clusterv3.Cluster_STRICT_DNS:
		if countEndpoints(la) == 0 {
			c.add(RuleClusterDiscovery, "Cluster", name, "STRICT_DNS cluster without endpoints in load_assignment: nothing to resolve")
		}
	case clusterv3.Cluster_LOGICAL_DNS:
		if len(la.GetEndpoints()) != 1 || len(la.GetEndpoints()[0].GetLbEndpoints()) != 1 {
			c.add(RuleClusterDiscovery, "Cluster", name, "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint")
		}
	case clusterv3.Cluster_ORIGINAL_DST:
		if la != nil {
			c.add(RuleClusterDiscovery, "Cluster", name, "ORIGINAL_DST clusters must have no load assignment configured")
		}
		if cl.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
			c.add(RuleClusterDiscovery, "Cluster", name, "LB policy %s is not valid for cluster type ORIGINAL_DST: only CLUSTER_PROVIDED is allowed", cl.GetLbPolicy())
		}
	}
}

// loadAssignment checks a served ClusterLoadAssignment: its endpoints must be IP addresses (EDS hosts are
// not resolved; a name fails Network::Utility::parseInternetAddress).
func (c *checker) loadAssignment(e *endpointv3.ClusterLoadAssignment) {
	c.endpointsAreIPs("ClusterLoadAssignment", e.GetClusterName(), e, "EDS")
}

func (c *checker) endpointsAreIPs(typ, resource string, la *endpointv3.ClusterLoadAssignment, what string) {
	for _, loc := range la.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				continue
			}
			if _, err := netip.ParseAddr(sa.GetAddress()); err != nil {
				c.add(RuleClusterDiscovery, typ, resource, "%s endpoint %q is not an IP address: Envoy refuses it (malformed IP address); hostnames need a DNS cluster", what, sa.GetAddress())
			}
		}
	}
}

func countEndpoints(la *endpointv3.ClusterLoadAssignment) int {
	n := 0
	for _, loc := range la.GetEndpoints() {
		n += len(loc.GetLbEndpoints())
	}
	return n
}

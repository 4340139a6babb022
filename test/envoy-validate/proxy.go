package main

// Whole-proxy mode: the configuration one proxy is served (listeners, routes, clusters, endpoints,
// secrets), decoded and checked against the rules Envoy applies when it loads them together (rules.go).

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The xDS type URLs of the five sections of a proxy's configuration.
const (
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	routeType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	endpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	secretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
)

// proxyInput is one line of whole-proxy input.
type proxyInput struct {
	Proxy     string          `json:"proxy"`
	Listeners []resourceInput `json:"listeners"`
	Routes    []resourceInput `json:"routes"`
	Clusters  []resourceInput `json:"clusters"`
	Endpoints []resourceInput `json:"endpoints"`
	Secrets   []resourceInput `json:"secrets"`
	// Partial names the sections that hold only part of what the proxy would be served (a test client that
	// subscribed to some types, or to some names): their resources are checked, but a reference into them
	// that finds nothing is not a violation. Accepted only with -partial.
	Partial []string `json:"partial"`
}

// sectionNames are the values Partial may hold.
var sectionNames = map[string]bool{"listeners": true, "routes": true, "clusters": true, "endpoints": true, "secrets": true}

// resourceInput is one served resource: the encoded Any as sent on the wire, or proto3 JSON of the message.
// name is the name the server serves it under; Envoy only knows the name inside the resource, so the two
// must agree.
type resourceInput struct {
	Name string          `json:"name"`
	Any  string          `json:"any"`
	JSON json.RawMessage `json:"json"`
}

// ProxyConfig is everything one proxy is served, decoded.
type ProxyConfig struct {
	Proxy     string
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
	// Partial holds the sections (routes, clusters, endpoints, secrets) whose served-name rules are skipped.
	Partial map[string]bool
}

// Violation is one broken rule: which rule, on which resource, and why Envoy would refuse or misbehave.
type Violation struct {
	Proxy    string `json:"proxy"`
	Rule     string `json:"rule"`
	Type     string `json:"type"`
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s %s %q: %s", v.Proxy, v.Rule, v.Type, v.Resource, v.Reason)
}

// report is the JSON form of a whole-proxy run (-format json).
type report struct {
	Proxies    int         `json:"proxies"`
	Resources  int         `json:"resources"`
	Violations []Violation `json:"violations"`
}

// decodeSection turns the inputs of one section into messages of type T; a resource that does not decode
// is a violation of rule "decode", one that fails ValidateAll of rule "validate".
func decodeSection[T proto.Message](proxy, typeURL string, items []resourceInput, newT func() T, vs *[]Violation) []T {
	var out []T
	short := shortType(typeURL)
	for i, item := range items {
		label := item.Name
		if label == "" {
			label = fmt.Sprintf("#%d", i)
		}
		bad := func(rule, reason string) {
			*vs = append(*vs, Violation{Proxy: proxy, Rule: rule, Type: short, Resource: label, Reason: reason})
		}
		msg := newT()
		switch {
		case item.Any != "":
			raw, err := base64.StdEncoding.DecodeString(item.Any)
			if err != nil {
				bad(RuleDecode, fmt.Sprintf("any is not base64: %v", err))
				continue
			}
			outer := &anypb.Any{}
			if err := proto.Unmarshal(raw, outer); err != nil {
				bad(RuleDecode, fmt.Sprintf("not an encoded google.protobuf.Any: %v", err))
				continue
			}
			if outer.GetTypeUrl() != typeURL {
				bad(RuleDecode, fmt.Sprintf("Any carries %s in the %s section", outer.GetTypeUrl(), short))
				continue
			}
			if err := proto.Unmarshal(outer.GetValue(), msg); err != nil {
				bad(RuleDecode, fmt.Sprintf("does not decode as %s: %v", short, err))
				continue
			}
		case len(item.JSON) > 0:
			if err := protojson.Unmarshal(item.JSON, msg); err != nil {
				bad(RuleDecode, fmt.Sprintf("JSON does not decode as %s: %v", short, err))
				continue
			}
		default:
			bad(RuleDecode, "neither any nor json given")
			continue
		}
		var problems []string
		validateTree(msg, short, &problems)
		for _, p := range problems {
			bad(RuleValidate, p)
		}
		if item.Name != "" {
			if inner := resourceName(msg); inner != item.Name {
				bad(RuleServedName, fmt.Sprintf("served under the name %q but the resource is named %q: Envoy files it under the latter, so a reference to the former stays unresolved", item.Name, inner))
			}
		}
		out = append(out, msg)
	}
	return out
}

func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case *listenerv3.Listener:
		return r.GetName()
	case *routev3.RouteConfiguration:
		return r.GetName()
	case *clusterv3.Cluster:
		return r.GetName()
	case *endpointv3.ClusterLoadAssignment:
		return r.GetClusterName()
	case *tlsv3.Secret:
		return r.GetName()
	}
	return ""
}

// decodeProxy decodes one input line's resources; problems found while decoding come back as violations.
func decodeProxy(in proxyInput) (*ProxyConfig, []Violation) {
	var vs []Violation
	cfg := &ProxyConfig{Proxy: in.Proxy, Partial: map[string]bool{}}
	for _, s := range in.Partial {
		cfg.Partial[s] = true
	}
	cfg.Listeners = decodeSection(in.Proxy, listenerType, in.Listeners, func() *listenerv3.Listener { return &listenerv3.Listener{} }, &vs)
	cfg.Routes = decodeSection(in.Proxy, routeType, in.Routes, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} }, &vs)
	cfg.Clusters = decodeSection(in.Proxy, clusterType, in.Clusters, func() *clusterv3.Cluster { return &clusterv3.Cluster{} }, &vs)
	cfg.Endpoints = decodeSection(in.Proxy, endpointType, in.Endpoints, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} }, &vs)
	cfg.Secrets = decodeSection(in.Proxy, secretType, in.Secrets, func() *tlsv3.Secret { return &tlsv3.Secret{} }, &vs)
	return cfg, vs
}

// runProxies reads whole-proxy lines and writes violations as text lines or one JSON report.
// Exit status: 0 no violation, 1 violations, 2 unreadable input.
// With partial false a line naming partial sections is refused, so a whole-proxy check is never weakened
// by its input alone.
func runProxies(in io.Reader, out io.Writer, asJSON, partial bool) int {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1<<20), 256<<20)
	rep := report{Violations: []Violation{}}
	line := 0
	for scanner.Scan() {
		line++
		text := strings.TrimSpace(scanner.Text())
		if text == "" {
			continue
		}
		var item proxyInput
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&item); err != nil {
			fmt.Fprintf(out, "line %d: not a proxy object: %v\n", line, err)
			return 2
		}
		if len(item.Partial) > 0 && !partial {
			fmt.Fprintf(out, "line %d: names partial sections %v, which needs -partial\n", line, item.Partial)
			return 2
		}
		for _, s := range item.Partial {
			if !sectionNames[s] {
				fmt.Fprintf(out, "line %d: partial section %q is not one of listeners, routes, clusters, endpoints, secrets\n", line, s)
				return 2
			}
		}
		if item.Proxy == "" {
			item.Proxy = fmt.Sprintf("line %d", line)
		}
		rep.Proxies++
		rep.Resources += len(item.Listeners) + len(item.Routes) + len(item.Clusters) + len(item.Endpoints) + len(item.Secrets)
		cfg, vs := decodeProxy(item)
		vs = append(vs, CheckProxy(cfg)...)
		rep.Violations = append(rep.Violations, vs...)
		if !asJSON {
			if len(vs) == 0 {
				fmt.Fprintf(out, "ok        %s\n", item.Proxy)
			}
			for _, v := range vs {
				fmt.Fprintf(out, "VIOLATION %s\n", v)
			}
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintf(out, "reading input: %v\n", err)
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 2
		}
	} else {
		byRule := map[string]int{}
		for _, v := range rep.Violations {
			byRule[v.Rule]++
		}
		rules := make([]string, 0, len(byRule))
		for r := range byRule {
			rules = append(rules, fmt.Sprintf("%s=%d", r, byRule[r]))
		}
		sort.Strings(rules)
		fmt.Fprintf(out, "checked %d proxies (%d resources): %d violations %s\n", rep.Proxies, rep.Resources, len(rep.Violations), strings.Join(rules, " "))
	}
	if rep.Proxies == 0 {
		if !asJSON {
			fmt.Fprintln(out, "no proxies given; nothing was checked")
		}
		return 2
	}
	if len(rep.Violations) > 0 {
		return 1
	}
	return 0
}

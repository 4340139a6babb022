// envoy-validate decodes xDS resources produced by Weft and checks them with Envoy's own validation rules
// (the protoc-gen-validate constraints that go-control-plane generates as ValidateAll methods).
//
// Input on stdin, one JSON object per line:
//
//	{"typeUrl": "...", "name": "...", "any": "<base64 of an encoded google.protobuf.Any>"}
//	{"typeUrl": "...", "name": "...", "json": {...}}   (proto3 JSON of the message, e.g. a bootstrap)
//
// Every google.protobuf.Any found anywhere inside a resource (typed_config, transport sockets, per-route
// configs, extension protocol options) is unpacked and validated too; an Any whose type is not registered
// is a failure, because Envoy would reject it as an unknown extension.
//
// Output: one line per resource ("ok" or "INVALID" with the reasons), then a summary line.
// Exit status: 0 when everything is valid, 1 when anything is not, 2 on unreadable input.
//
// With -proxy the input is instead one whole proxy configuration per line, checked as Envoy checks it at
// load (cross-resource references, filter chain matching, terminal filters, domains, addresses, cluster
// discovery types, TLS secrets; see README.md and rules.go):
//
//	{"proxy": "<label>", "listeners": [R...], "routes": [R...], "clusters": [R...], "endpoints": [R...], "secrets": [R...]}
//	R = {"name": "<served name>", "any": "<base64 Any>"} or {"name": ..., "json": {...}}
//
// Each violation is one line "VIOLATION <proxy> <rule> <type> "<resource>": <reason>" (or, with
// -format json, one JSON report {proxies, resources, violations: [{proxy, rule, type, resource, reason}]}).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	// Imported for their init side effects: they register the message types so that Any values resolve.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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

type input struct {
	TypeURL string          `json:"typeUrl"`
	Name    string          `json:"name"`
	Any     string          `json:"any"`
	JSON    json.RawMessage `json:"json"`
}

// validator is what the generated code provides on every message.
type validator interface{ ValidateAll() error }

func main() {
	proxyMode := flag.Bool("proxy", false, "input is whole proxy configurations, checked with Envoy's load-time rules")
	format := flag.String("format", "text", "report format for -proxy: text or json")
	partial := flag.Bool("partial", false, "with -proxy: accept lines whose \"partial\" sections hold only what a test client subscribed to; references into those sections are not required to be served")
	flag.Parse()
	if *format != "text" && *format != "json" {
		fmt.Fprintf(os.Stderr, "unknown -format %q (text or json)\n", *format)
		os.Exit(2)
	}
	if *proxyMode {
		os.Exit(runProxies(os.Stdin, os.Stdout, *format == "json", *partial))
	}
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	checked, failed := 0, 0
	line := 0
	for scanner.Scan() {
		line++
		text := strings.TrimSpace(scanner.Text())
		if text == "" {
			continue
		}
		var item input
		if err := json.Unmarshal([]byte(text), &item); err != nil {
			fmt.Fprintf(out, "line %d: not a JSON object: %v\n", line, err)
			return 2
		}
		checked++
		problems := check(item)
		label := fmt.Sprintf("%s %q", shortType(item.TypeURL), item.Name)
		if len(problems) == 0 {
			fmt.Fprintf(out, "ok      %s\n", label)
			continue
		}
		failed++
		fmt.Fprintf(out, "INVALID %s\n", label)
		for _, p := range problems {
			fmt.Fprintf(out, "        - %s\n", p)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintf(out, "reading input: %v\n", err)
		return 2
	}
	fmt.Fprintf(out, "checked %d resources: %d valid, %d invalid\n", checked, checked-failed, failed)
	if checked == 0 {
		fmt.Fprintln(out, "no resources given; nothing was checked")
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// check decodes one resource and returns every validation problem found in it and its nested Anys.
func check(item input) []string {
	var msg proto.Message
	switch {
	case item.Any != "":
		raw, err := base64.StdEncoding.DecodeString(item.Any)
		if err != nil {
			return []string{fmt.Sprintf("any is not base64: %v", err)}
		}
		outer := &anypb.Any{}
		if err := proto.Unmarshal(raw, outer); err != nil {
			return []string{fmt.Sprintf("not an encoded google.protobuf.Any: %v", err)}
		}
		if item.TypeURL != "" && outer.GetTypeUrl() != item.TypeURL {
			return []string{fmt.Sprintf("Any carries %s, expected %s", outer.GetTypeUrl(), item.TypeURL)}
		}
		inner, err := unpack(outer)
		if err != nil {
			return []string{err.Error()}
		}
		msg = inner
	case len(item.JSON) > 0:
		name := strings.TrimPrefix(item.TypeURL, "type.googleapis.com/")
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
		if err != nil {
			return []string{fmt.Sprintf("unknown message type %s: %v", name, err)}
		}
		m := mt.New().Interface()
		if err := protojson.Unmarshal(item.JSON, m); err != nil {
			return []string{fmt.Sprintf("JSON does not decode as %s: %v", name, err)}
		}
		msg = m
	default:
		return []string{"neither any nor json given"}
	}
	var problems []string
	validateTree(msg, string(msg.ProtoReflect().Descriptor().FullName()), &problems)
	return problems
}

func unpack(a *anypb.Any) (proto.Message, error) {
	m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{DiscardUnknown: false})
	if err != nil {
		return nil, fmt.Errorf("cannot unpack Any %s: %v", a.GetTypeUrl(), err)
	}
	return m, nil
}

// validateTree runs the message's own ValidateAll (which covers ordinary nested messages) and then walks
// the message for Any fields, which generated validation does not look into.
func validateTree(msg proto.Message, path string, problems *[]string) {
	if v, ok := msg.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", path, err))
		}
	} else {
		*problems = append(*problems, fmt.Sprintf("%s: %s has no generated validation", path, msg.ProtoReflect().Descriptor().FullName()))
	}
	walkAnys(msg.ProtoReflect(), path, problems)
}

const anyName = protoreflect.FullName("google.protobuf.Any")

func walkAnys(m protoreflect.Message, path string, problems *[]string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fieldPath := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				visit(list.Get(i).Message(), fmt.Sprintf("%s[%d]", fieldPath, i), problems)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(mv.Message(), fmt.Sprintf("%s[%v]", fieldPath, k.Interface()), problems)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			visit(v.Message(), fieldPath, problems)
		}
		return true
	})
}

func visit(m protoreflect.Message, path string, problems *[]string) {
	if m.Descriptor().FullName() != anyName {
		walkAnys(m, path, problems)
		return
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		a = &anypb.Any{}
		proto.Merge(a, m.Interface())
	}
	inner, err := unpack(a)
	if err != nil {
		*problems = append(*problems, fmt.Sprintf("%s: %v", path, err))
		return
	}
	validateTree(inner, path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", problems)
}

package server

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// samplePath is the sample configuration at the repository root.
const samplePath = "../../avhost.yaml"

func loadSample(t *testing.T) ([]byte, Config) {
	t.Helper()
	b, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(b)
	if err != nil {
		t.Fatalf("the sample does not load: %v", err)
	}
	return b, c
}

// The sample sets every key to its default, but for its marked examples: loaded, it
// is DefaultConfig, so a default changed in code and not in the sample (or the
// other way round) fails here.
func TestConfigSampleLoadsAndSaysTheDefaults(t *testing.T) {
	_, c := loadSample(t)
	if len(c.WebRTC.ICEServers) == 0 || len(c.Publish) == 0 {
		t.Fatal("the sample lost its ICE server or publish examples")
	}
	c.WebRTC.ICEServers, c.Publish = nil, nil
	d := DefaultConfig()
	if len(c.AllowedOrigins)+len(c.PublishAllow)+len(c.WebRTC.NAT1To1IPs)+len(c.WebRTC.ICEInterfaces)+len(c.WebRTC.TURN.URLs)+len(c.Record.Sessions) > 0 {
		t.Fatal("allowed_origins, publish_allow, webrtc.nat_1to1_ips, ice_interfaces, turn.urls and record.sessions default to none: the sample sets some")
	}
	// [] in the file, nil in code
	c.AllowedOrigins, c.PublishAllow, c.WebRTC.NAT1To1IPs, c.WebRTC.ICEInterfaces, c.WebRTC.TURN.URLs, c.Record.Sessions = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(c, d) {
		ys, _ := yaml.Marshal(c)
		yd, _ := yaml.Marshal(d)
		t.Fatalf("the sample's values are not the defaults:\nsample:\n%s\ndefaults:\n%s", ys, yd)
	}
}

// The derived defaults the sample's comments name.
func TestConfigDerivedDefaults(t *testing.T) {
	c := DefaultConfig().WithDefaults()
	if c.PongWait != 60*time.Second || c.MaxAnonymousViewers != 160 || c.RTSP.UDPRTCP != ":8001" {
		t.Fatalf("pong_wait %v, max_anonymous_viewers %d, rtsp.udp_rtcp %q; want 1m0s, 160, :8001",
			c.PongWait, c.MaxAnonymousViewers, c.RTSP.UDPRTCP)
	}
	b := []byte("ping_interval: 10s\nrtsp:\n  udp_rtp: \"127.0.0.1:9000\"\n")
	l, err := LoadConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if l = l.WithDefaults(); l.PongWait != 30*time.Second || l.RTSP.UDPRTCP != "127.0.0.1:9001" {
		t.Fatalf("pong_wait %v, rtsp.udp_rtcp %q: want 30s and 127.0.0.1:9001 (derived from the file's values)", l.PongWait, l.RTSP.UDPRTCP)
	}
}

// Every key Config takes appears in the sample, so the sample stays complete as
// fields are added.
func TestConfigSampleHasEveryKey(t *testing.T) {
	b, _ := loadSample(t)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	nodePaths(root.Content[0], reflect.TypeFor[Config](), "", have)
	var missing []string
	for _, p := range typePaths(reflect.TypeFor[Config](), "") {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(typePaths(reflect.TypeFor[Config](), "")) < 80 {
		t.Fatal("the key walk found too few keys to be walking Config")
	}
	if len(missing) > 0 {
		t.Fatalf("avhost.yaml lacks %d keys:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// typePaths lists the key paths of t, a map's keys as "*" and a list's items as "[]".
func typePaths(t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return nil
		}
		keys := structKeys(t)
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p := join(path, k)
			out = append(out, p)
			out = append(out, typePaths(keys[k], p)...)
		}
	case reflect.Map:
		out = typePaths(t.Elem(), join(path, "*"))
	case reflect.Slice, reflect.Array:
		out = typePaths(t.Elem(), path+"[]")
	}
	return out
}

// nodePaths marks the key paths n has, named as typePaths names them.
func nodePaths(n *yaml.Node, t reflect.Type, path string, have map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		keys := structKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			have[p] = true
			if ft, ok := keys[n.Content[i].Value]; ok {
				nodePaths(n.Content[i+1], ft, p, have)
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			nodePaths(n.Content[i+1], t.Elem(), join(path, "*"), have)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, v := range n.Content {
			nodePaths(v, t.Elem(), path+"[]", have)
		}
	}
}

// Every exported field reachable from Config has a yaml tag: a name, "-" for what
// only code sets (loggers, shared caps), or ",inline". An untagged field would take
// yaml.v3's lower-cased Go name, which is no flag's name.
func TestConfigEveryFieldTagged(t *testing.T) {
	var untagged []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || !strings.HasPrefix(t.PkgPath(), "github.com/avhost/avhost/") {
			return // a leaf, or another module's type (structKeys names its keys)
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, ok := f.Tag.Lookup("yaml")
			if !ok || tag == "" {
				untagged = append(untagged, t.String()+"."+f.Name)
				continue
			}
			if tag != "-" {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	if len(seen) < 10 {
		t.Fatalf("walked %d struct types: not walking Config", len(seen))
	}
	if len(untagged) > 0 {
		t.Fatalf("exported fields without a yaml tag:\n%s", strings.Join(untagged, "\n"))
	}
}

// Keys are snake_case: lower-case letters, digits and "_".
func TestConfigKeysAreSnakeCase(t *testing.T) {
	for _, p := range typePaths(reflect.TypeFor[Config](), "") {
		for _, k := range strings.Split(strings.NewReplacer("[]", "", "*", "x").Replace(p), ".") {
			if k == "" || strings.ContainsFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
				t.Errorf("key %q of %q is not snake_case", k, p)
			}
		}
	}
	if !slices.Contains(typePaths(reflect.TypeFor[Config](), ""), "webrtc.ice_servers[].credential") {
		t.Fatal("webrtc.ice_servers[].credential is not a key")
	}
}

package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"gopkg.in/yaml.v3"

	"github.com/avhost/avhost/internal/rtcout"
)

// ErrConfig is wrapped by every error of LoadConfig.
var ErrConfig = errors.New("config")

// LoadConfig decodes a YAML configuration over DefaultConfig, strictly: an unknown
// key, a duplicate key, a value of the wrong type or a second document is an error
// naming its line (and, for a key, its path, e.g. `line 12: unknown key
// "webrtc.iceservers"`). A misspelt key silently ignored is a setting silently lost.
func LoadConfig(b []byte) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return cfg, configErr(err)
	}
	if len(root.Content) == 0 { // an empty file, or comments only
		return cfg, nil
	}
	// yaml.v3's KnownFields names the Go type, not the key; this walk names the key.
	if err := checkKeys(root.Content[0], reflect.TypeOf(cfg), ""); err != nil {
		return cfg, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, configErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return cfg, fmt.Errorf("%w: line %d: a second YAML document (one configuration per file)", ErrConfig, extra.Line)
	}
	if err := checkICEServers(cfg.WebRTC.ICEServers); err != nil {
		return cfg, err
	}
	if err := checkTURN(cfg.WebRTC.TURN); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// configErr rewrites yaml.v3's "yaml: unmarshal errors:\n  line 3: …" as
// "config: line 3: …; line 7: …".
func configErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(te.Errors, "; "))
	}
	return fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(err.Error(), "yaml: "))
}

// checkKeys walks the YAML tree beside the Go type it decodes into and fails at the
// first key no field takes.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil // the type reads its own node
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		keys := structKeys(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			// A key twice is refused here, as the decoder would, before it is walked:
			// a mapping that merges the same anchor twice, each merging the one before
			// twice, would otherwise cost this walk 2^depth (26 lines took minutes).
			if seen[k.Value] {
				return fmt.Errorf("%w: line %d: key %q twice", ErrConfig, k.Line, join(path, k.Value))
			}
			seen[k.Value] = true
			if k.Value == "<<" { // a merge key: its mapping(s) fill this one
				if err := checkKeys(v, t, path); err != nil {
					return err
				}
				continue
			}
			p := join(path, k.Value)
			ft, ok := keys[k.Value]
			if !ok {
				return fmt.Errorf("%w: line %d: unknown key %q", ErrConfig, k.Line, p)
			}
			if err := checkKeys(v, ft, p); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if err := checkKeys(v, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil // a scalar, or a kind mismatch the decoder reports with its line
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// iceServerKeys are the keys of an ICE server, which is Pion's type and has no tags:
// what yaml.v3 would call its fields, less credentialtype (only "password"
// credentials are handed to viewers, as RFC 9725 §4.6's Link parameters carry).
var iceServerKeys = map[string]reflect.Type{
	"urls":       reflect.TypeFor[[]string](),
	"username":   reflect.TypeFor[string](),
	"credential": reflect.TypeFor[string](),
}

// structKeys maps the YAML keys of struct type t to their field types, as yaml.v3
// names them: the tag's name, else the lower-cased field name; ",inline" fields
// contribute their own keys; "-" and unexported fields none.
func structKeys(t reflect.Type) map[string]reflect.Type {
	if t == reflect.TypeFor[webrtc.ICEServer]() {
		return iceServerKeys
	}
	keys := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
			continue
		case strings.Contains(opts, "inline"):
			for k, v := range structKeys(f.Type) {
				keys[k] = v
			}
			continue
		case name == "":
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys
}

// checkICEServers refuses what could not be handed to a viewer as it was written:
// the servers go out in Link headers (whep/link.go) and JSON, so a CR or LF (a
// header split), a non-string credential, or a URL that is not a STUN/TURN URI is a
// configuration error now rather than a broken header for every viewer later.
func checkICEServers(servers []webrtc.ICEServer) error {
	for i, s := range servers {
		at := fmt.Sprintf("webrtc.ice_servers[%d]", i)
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: %s: no urls", ErrConfig, at)
		}
		if err := checkICEURLs(at, s.URLs); err != nil {
			return err
		}
		cred, ok := s.Credential.(string)
		if s.Credential != nil && !ok {
			return fmt.Errorf("%w: %s.credential: not a string", ErrConfig, at)
		}
		if hasControl(s.Username) || hasControl(cred) {
			return fmt.Errorf("%w: %s: username or credential has a control character (CR, LF, …)", ErrConfig, at)
		}
	}
	return nil
}

// checkICEURLs: each is a STUN/TURN URI that a Link header can carry whole.
func checkICEURLs(at string, urls []string) error {
	for _, u := range urls {
		scheme, _, _ := strings.Cut(u, ":")
		switch scheme {
		case "stun", "stuns", "turn", "turns":
		default:
			return fmt.Errorf("%w: %s.urls: %q is not a stun:, stuns:, turn: or turns: URI", ErrConfig, at, u)
		}
		if strings.ContainsAny(u, "<>\" ") || hasControl(u) {
			return fmt.Errorf("%w: %s.urls: %q has a space, quote, angle bracket or control character", ErrConfig, at, u)
		}
	}
	return nil
}

// maxTURNTTL is the longest webrtc.turn.ttl.
const maxTURNTTL = 24 * time.Hour

// checkTURN: TURN URLs need the secret to mint with, and a secret needs URLs; a
// half-set turn section would silently hand viewers nothing.
func checkTURN(t rtcout.TURN) error {
	if len(t.URLs) > 0 != (t.Secret != "") {
		return fmt.Errorf("%w: webrtc.turn: urls and secret go together (one is set, the other empty)", ErrConfig)
	}
	// A credential is good until a whole second (the username's expiry), so one of
	// less than a minute may be dead by the time the viewer allocates; one of more
	// than a day is a relay anyone who saw it keeps (the REST draft's TTL is a day).
	if t.TTL != 0 && (t.TTL < time.Minute || t.TTL > maxTURNTTL) { // 0: the default
		return fmt.Errorf("%w: webrtc.turn.ttl: %s (1m to %s)", ErrConfig, t.TTL, maxTURNTTL)
	}
	return checkICEURLs("webrtc.turn", t.URLs)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

package session

import (
	"fmt"
	"strings"
)

// element is one element of a gst-launch description: its factory and the names of
// the properties set on it, in order.
type element struct {
	factory string
	props   []string
}

func (e element) String() string { return e.factory + "(" + strings.Join(e.props, ",") + ")" }

// elements splits a gst-launch description (gst_parse_launch's syntax, as far as
// avhost's templates use it) into its elements. Caps ("video/x-raw,format=I420") and
// pad references ("vtee.") are not elements. A token with no "=" that is not caps or
// a reference starts an element, wherever it is: that is how "25/1 ! fakesink filesrc"
// pasted into a property smuggles elements in. Quotes, escapes and bins are refused
// rather than half-understood: avhost's descriptions have none.
func elements(desc string) ([]element, error) {
	if i := strings.IndexAny(desc, "\"'\\()[]{};"); i >= 0 {
		return nil, fmt.Errorf("unexpected %q at %d", desc[i], i)
	}
	var out []element
	linked := true // at the start of a chain or just after "!"
	cur := -1      // the element properties go to
	for _, field := range strings.Fields(desc) {
		for _, tok := range splitLinks(field) {
			caps := isCaps(tok)
			ref := strings.HasSuffix(tok, ".") && !strings.Contains(tok, "=")
			switch {
			case tok == "!":
				linked, cur = true, -1
				continue
			case caps && linked, ref:
				cur = -1
			case caps:
				return nil, fmt.Errorf("caps %q not after !", tok)
			case strings.Contains(tok, "="):
				if linked || cur < 0 {
					return nil, fmt.Errorf("property %q with no element", tok)
				}
				name, _, _ := strings.Cut(tok, "=")
				out[cur].props = append(out[cur].props, name)
			default:
				out = append(out, element{factory: tok})
				cur = len(out) - 1
			}
			linked = false
		}
	}
	return out, nil
}

// splitLinks cuts "a!b" into "a", "!", "b": gst_parse_launch needs no spaces around "!".
func splitLinks(field string) []string {
	var out []string
	for {
		i := strings.IndexByte(field, '!')
		if i < 0 {
			break
		}
		if i > 0 {
			out = append(out, field[:i])
		}
		out = append(out, "!")
		field = field[i+1:]
	}
	if field != "" {
		out = append(out, field)
	}
	return out
}

// isCaps is true for "media/type" or "media/type,field=value...".
func isCaps(tok string) bool {
	slash, eq := strings.IndexByte(tok, '/'), strings.IndexByte(tok, '=')
	return slash > 0 && (eq < 0 || slash < eq)
}

func sameElements(a, b []element) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

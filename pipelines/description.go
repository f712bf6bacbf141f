package pipelines

import "strings"

// Description turns the text of a .pipeline file into one gst-launch description: it
// drops blank lines and lines starting with #, and joins the rest with spaces
// (gst_parse_launch has no comment syntax).
func Description(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}

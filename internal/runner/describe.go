package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/avhost/avhost/internal/pipelinetext"
)

// Resolve turns the PIPELINE argument into a description: a file path, a name under
// dir ("record" → dir/record.pipeline), or else the inline description itself.
func Resolve(arg, dir string) (string, error) {
	for _, p := range []string{arg, filepath.Join(dir, arg), filepath.Join(dir, arg+".pipeline")} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			return pipelinetext.Description(string(b)), nil
		}
	}
	if strings.HasSuffix(arg, ".pipeline") {
		return "", fmt.Errorf("runner: pipeline file %s not found", arg)
	}
	return arg, nil
}

var varRE = regexp.MustCompile(`\$\{([A-Z_]+)(?::-([^}]*))?\}`)

// Expand replaces ${NAME} and ${NAME:-default} with vars; an unknown name without a
// default is an error, so a typo does not reach the parser as a literal.
func Expand(desc string, vars map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(desc, func(m string) string {
		g := varRE.FindStringSubmatch(m)
		if v, ok := vars[g[1]]; ok && v != "" {
			return v
		}
		if strings.Contains(m, ":-") {
			return g[2]
		}
		missing = append(missing, g[1])
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("runner: pipeline needs %s (set the matching flag)", strings.Join(missing, ", "))
	}
	return out, nil
}

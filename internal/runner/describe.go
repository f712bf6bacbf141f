package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/avhost/avhost/pipelines"
)

// Resolve turns the PIPELINE argument into the text of a description: a file path, a
// name under dir ("record" → dir/record.pipeline) when dir is set, a description
// built into avhost (package pipelines), or else the inline description itself.
func Resolve(arg, dir string) (string, error) {
	paths := []string{arg}
	if dir != "" {
		paths = append(paths, filepath.Join(dir, arg), filepath.Join(dir, arg+".pipeline"))
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			return string(b), nil
		}
	}
	if t, ok := pipelines.Text(strings.TrimSuffix(arg, ".pipeline")); ok {
		return t, nil
	}
	if strings.HasSuffix(arg, ".pipeline") {
		return "", fmt.Errorf("runner: pipeline file %s not found", arg)
	}
	return arg, nil
}

// Expand renders a description's ${NAME}s from vars (pipelines.Render); an unknown
// name without a default is an error that names the flag to set.
func Expand(text string, vars pipelines.Vars) (string, error) {
	desc, err := pipelines.Render(text, vars)
	var missing *pipelines.MissingError
	if errors.As(err, &missing) {
		return "", fmt.Errorf("runner: pipeline needs %s (set the matching flag)", strings.Join(missing.Names, ", "))
	}
	return desc, err
}

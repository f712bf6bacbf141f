package main

import (
	"fmt"
	"io"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
)

// inspect prints avhost's element properties as Markdown tables, read from the
// registered elements themselves; `make docs` puts them in the README.
func inspect(w io.Writer) error {
	initGst()
	for _, el := range []struct {
		name  string
		props []*glib.ParamSpec
	}{
		{singleframesrc.FactoryName, singleframesrc.Properties()},
		{pcmslicesrc.FactoryName, pcmslicesrc.Properties()},
	} {
		e, err := gst.NewElement(el.name)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "#### `%s`\n\n| property | type | default | description |\n|---|---|---|---|\n", el.name)
		for _, p := range el.props {
			v, err := e.GetProperty(p.Name())
			if err != nil {
				return fmt.Errorf("%s.%s: %w", el.name, p.Name(), err)
			}
			fmt.Fprintf(w, "| `%s` | %s | `%v` | %s |\n", p.Name(), p.ValueType().Name(), v, p.Blurb())
		}
		fmt.Fprintln(w)
	}
	return nil
}

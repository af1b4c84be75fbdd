package spec

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hotel-ops/hotel-ops/internal/yamlconf"
)

// DefaultsYAML is SPEC-2025-016 as a threshold spec.
//
//go:embed defaults.yaml
var DefaultsYAML []byte

// DefaultsName names the embedded defaults in error messages.
const DefaultsName = "mixin/spec/defaults.yaml"

// source is one layer of the merge, kept for error lines.
type source struct {
	name string
	root yaml.Node
}

// Load merges the override files, in order, over the defaults and
// validates the result. See Merge.
func Load(files ...string) (*Spec, error) {
	layers := make([]Layer, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading threshold spec: %w", err)
		}
		layers = append(layers, Layer{Name: f, Data: data})
	}
	return Merge(layers...)
}

// Layer is an override document and its name for errors.
type Layer struct {
	Name string
	Data []byte
}

// Merge deep-merges layers over the defaults, as jsonnet mixins do with
// `_config+::`: mappings merge key by key, anything else replaces. Every
// layer must be valid on its own (known fields, parseable values); the
// result must pass Validate. An alert name the defaults do not define is an
// error: an override can patch or disable an alert, not invent one.
func Merge(layers ...Layer) (*Spec, error) {
	srcs := []source{{name: DefaultsName}}
	if err := yaml.Unmarshal(DefaultsYAML, &srcs[0].root); err != nil {
		return nil, fmt.Errorf("%s: %w", DefaultsName, err)
	}
	merged, err := plain(&srcs[0].root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DefaultsName, err)
	}
	defaults := merged.(map[string]any)
	known := map[string]bool{}
	for name := range defaults["alerts"].(map[string]any) {
		known[name] = true
	}
	for _, l := range layers {
		var check Spec
		if err := strict(l.Data, &check); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		src := source{name: l.Name}
		if err := yaml.Unmarshal(l.Data, &src.root); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		over, err := plain(&src.root)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		m, ok := over.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: the threshold spec must be a mapping", l.Name)
		}
		if alerts, ok := m["alerts"].(map[string]any); ok {
			for name := range alerts {
				if !known[name] {
					line, _ := yamlconf.Find(&src.root, "alerts."+name)
					return nil, fmt.Errorf("%s:%d: alerts.%s: unknown alert (known: %s)", l.Name, line, name, strings.Join(SortedKeys(known), ", "))
				}
			}
		}
		merged = mergeValues(merged, over)
		srcs = append(srcs, src)
	}
	out, err := yaml.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := strict(out, &s); err != nil {
		return nil, fmt.Errorf("merged threshold spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, locate(err, srcs)
	}
	return &s, nil
}

// strict decodes data into v, rejecting unknown fields.
func strict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(strings.ReplaceAll(err.Error(), "\n ", ""))
	}
	return nil
}

// plain turns a YAML tree into maps, slices and scalar strings, keeping
// scalars as written ("1%", "0.0001") so nothing is rounded by the merge.
func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return map[string]any{}, nil
		}
		return plain(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plain(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		if n.Tag == "!!bool" {
			return n.Value == "true", nil
		}
		return n.Value, nil
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func mergeValues(base, over any) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := over.(map[string]any)
	if !ok1 || !ok2 {
		return over
	}
	out := make(map[string]any, len(bm))
	for k, v := range bm {
		out[k] = v
	}
	for k, v := range om {
		if b, ok := out[k]; ok {
			out[k] = mergeValues(b, v)
		} else {
			out[k] = v
		}
	}
	return out
}

// locate prefixes each field error with the file and line of the layer
// that last set the field.
func locate(err error, srcs []source) error {
	var msgs []string
	for _, e := range unjoin(err) {
		var fe *yamlconf.FieldError
		if !errors.As(e, &fe) {
			msgs = append(msgs, e.Error())
			continue
		}
		where := fmt.Sprintf("%s:%d", srcs[0].name, yamlconf.Line(&srcs[0].root, fe.Path))
		for i := len(srcs) - 1; i > 0; i-- {
			if line, ok := yamlconf.Find(&srcs[i].root, fe.Path); ok {
				where = fmt.Sprintf("%s:%d", srcs[i].name, line)
				break
			}
		}
		msgs = append(msgs, fmt.Sprintf("%s: %s: %s", where, fe.Path, fe.Msg))
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// SortedKeys returns a map's keys in order: generated files must not
// depend on map iteration.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Encode writes the merged spec as YAML, as mixgen --print-spec shows it.
func Encode(w io.Writer, s *Spec) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return err
	}
	return enc.Close()
}

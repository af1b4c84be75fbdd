// Package yamlconf loads the YAML configuration files of hotel-ops binaries
// strictly: unknown fields are rejected, and validation errors name the file,
// the line and the field, so an operator can fix a typo without guessing.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is a validation problem at a dotted field path such as
// "targets.primary.dsn". Load turns the path into a line number.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Fieldf builds a FieldError.
func Fieldf(path, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Validator is implemented by configurations that check their own values.
// Returning a *FieldError (or errors.Join of several) lets Load report lines.
type Validator interface {
	Validate() error
}

// Load reads the file at path into v. See Parse.
func Load(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data, v)
}

// Parse decodes data (named name in errors) into v, rejecting unknown fields
// and running v.Validate when v is a Validator.
func Parse(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty configuration file", name)
		}
		return fmt.Errorf("%s: %s", name, strings.ReplaceAll(err.Error(), "\n ", ""))
	}
	val, ok := v.(Validator)
	if !ok {
		return nil
	}
	verr := val.Validate()
	if verr == nil {
		return nil
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // it decoded above, so it parses
	var msgs []string
	for _, e := range flatten(verr) {
		var fe *FieldError
		if errors.As(e, &fe) {
			msgs = append(msgs, fmt.Sprintf("%s:%d: %s: %s", name, Line(&root, fe.Path), fe.Path, fe.Msg))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s: %v", name, e))
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Line returns the line of the deepest node of the dotted path that exists
// in the document (1 when nothing matches), so an error about a missing
// field points at its parent.
func Line(root *yaml.Node, path string) int {
	line, _ := Find(root, path)
	return line
}

// Find is Line, and whether the whole path is in the document: a merged
// configuration reports a field at the file that set it.
func Find(root *yaml.Node, path string) (int, bool) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	if line == 0 {
		line = 1
	}
	for _, seg := range strings.Split(path, ".") {
		key, indexes := splitIndexes(seg)
		if n.Kind != yaml.MappingNode {
			return line, false
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line, false
		}
		for _, i := range indexes {
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line, false
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line, true
}

// splitIndexes splits a path segment "checks[1]" (or "a[0][2]") into its
// key and list indexes; a segment without brackets is all key.
func splitIndexes(seg string) (string, []int) {
	key, rest, ok := strings.Cut(seg, "[")
	if !ok {
		return seg, nil
	}
	var out []int
	for _, part := range strings.Split(rest, "[") {
		n, err := strconv.Atoi(strings.TrimSuffix(part, "]"))
		if err != nil || !strings.HasSuffix(part, "]") || n < 0 {
			return seg, nil // not an index: the key as written
		}
		out = append(out, n)
	}
	return key, out
}

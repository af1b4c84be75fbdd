package action

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
)

// maxRendered bounds what a template may produce: a label value can be
// long, and a template should place a few of them, not build a document.
const maxRendered = 64 << 10

// escaper is how label values are made safe for where a template puts
// them: they are escaped before the template sees them, so no template
// can forget to. nil leaves them as they are (argv elements, environment
// values and query parameters need nothing).
type escaper struct {
	where  string              // for errors: "the URL"
	escape func(string) string // applied to every label value
	// check refuses a value that no escaping makes safe there.
	check func(string) error
}

// urlEscaper escapes everything but the unreserved characters, with space
// as %20, which means the same in a path and a query: a label cannot add
// a path segment, a query parameter or a fragment.
var urlEscaper = &escaper{
	where:  "the URL",
	escape: func(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") },
	check: func(v string) error {
		// "." and ".." have no escaped form that a server will not
		// resolve as a dot segment: /api/{{.x}}/restart with x=".."
		// would be /restart.
		if v == "." || v == ".." {
			return errors.New("is a dot segment")
		}
		return nil
	},
}

// globEscaper escapes Redis glob metacharacters, so a label value matches
// only itself: instance="*" must not turn sess:{{.instance}}:* into *.
var globEscaper = &escaper{
	where: "the pattern",
	escape: func(v string) string {
		var b strings.Builder
		for _, r := range v {
			if strings.ContainsRune(`*?[]\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	},
}

// tmpl is a parsed template over the allowed labels.
type tmpl struct {
	t   *template.Template
	esc *escaper
}

// parseTemplate parses src. Templates are for placing label values, so
// what could make one loop or recurse (range, template, define, block)
// is refused: a configuration should not be able to hang the escalator.
// Missing labels are errors, never "<no value>": the template would
// otherwise run with a hole where a target should be.
func parseTemplate(name, src string, esc *escaper) (*tmpl, error) {
	funcs := template.FuncMap{
		// index of the built-ins returns "" for a missing key, which
		// missingkey=error does not cover.
		"index": func(m map[string]string, key string) (string, error) {
			v, ok := m[key]
			if !ok {
				return "", fmt.Errorf("no label %q among the allowed labels", key)
			}
			return v, nil
		},
		// json encodes a value (a label, or . for all of them) for a
		// JSON body, where a raw quote would end the string.
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
	if esc != nil {
		where := esc.where
		funcs["urlquery"] = func(...any) (string, error) {
			return "", fmt.Errorf("label values in %s are escaped already: drop urlquery", where)
		}
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	for _, sub := range t.Templates() {
		if sub.Name() != name {
			return nil, fmt.Errorf("define and block are not allowed (found %q)", sub.Name())
		}
	}
	if t.Tree != nil && t.Tree.Root != nil {
		if err := checkNodes(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return &tmpl{t: t, esc: esc}, nil
}

// checkNodes refuses the nodes that loop or call other templates.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return errors.New("range is not allowed (use json . for all the labels)")
	case *parse.TemplateNode:
		return errors.New("template is not allowed")
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkNodes(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkNodes(b.ElseList)
	}
	return nil
}

// cappedBuffer fails a write past maxRendered.
type cappedBuffer struct{ bytes.Buffer }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, fmt.Errorf("renders to more than %d bytes", maxRendered)
	}
	return b.Buffer.Write(p)
}

// render runs the template over the allowed labels, escaped for where
// the result goes.
func (t *tmpl) render(allowed map[string]string) (string, error) {
	data := make(map[string]string, len(allowed))
	for name, v := range allowed {
		if t.esc != nil {
			if t.esc.check != nil {
				if err := t.esc.check(v); err != nil {
					return "", fmt.Errorf("label %s: value %s %s", name, quoteValue(v), err)
				}
			}
			v = t.esc.escape(v)
		}
		data[name] = v
	}
	var b cappedBuffer
	if err := t.t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// mustParse is parseTemplate for New, on a Config that Validate accepted.
func mustParse(name, key, src string, esc *escaper) (*tmpl, error) {
	t, err := parseTemplate(key, src, esc)
	if err != nil {
		return nil, errorf(name, "%s: %w", key, err)
	}
	return t, nil
}

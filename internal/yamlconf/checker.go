package yamlconf

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
)

// Checker collects the problems of one entry of a configuration (a
// channel, an action, a health check), each a *FieldError under Path, so
// that Load can point at the line of each.
type Checker struct {
	Path string // e.g. "channels.slack"
	Type string // the entry's type, named in messages ("" when it has none)
	errs []error
}

// Field records a problem with the entry's field name.
func (v *Checker) Field(name, format string, args ...any) {
	v.errs = append(v.errs, Fieldf(v.Path+"."+name, format, args...))
}

// Secret checks a secret given as a file (prefix_file) or a variable
// (prefix_env): not both, and one of them when required.
func (v *Checker) Secret(prefix, file, env string, required bool) {
	switch {
	case file != "" && env != "":
		v.Field(prefix+"_file", "set only one of %s_file and %s_env", prefix, prefix)
	case required && file == "" && env == "" && v.Type != "":
		v.Field(prefix+"_file", "required for type %s (or %s_env)", v.Type, prefix)
	case required && file == "" && env == "":
		v.Field(prefix+"_file", "required (or %s_env)", prefix)
	}
}

// Err is the problems recorded, joined; nil when none.
func (v *Checker) Err() error { return errors.Join(v.errs...) }

// SetKeys lists the yaml keys of the fields of s (a struct or a pointer
// to one) that hold a value, in declaration order. An empty list or map
// counts as unset: `to: []` says nothing. Entries whose types read
// different keys use it to refuse a key their type ignores.
func SetKeys(s any) []string {
	v := reflect.Indirect(reflect.ValueOf(s))
	var keys []string
	for i := range v.NumField() {
		k, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if k == "" || k == "-" {
			continue
		}
		fv := v.Field(i)
		set := !fv.IsZero()
		if fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map {
			set = fv.Len() > 0
		}
		if set {
			keys = append(keys, k)
		}
	}
	return keys
}

// HTTPURLProblem says what is wrong with an endpoint URL, "" if nothing:
// it must parse, be http or https, and name a host. It never quotes the
// URL, which may be a secret (a Slack webhook) or carry a token. Whether
// credentials in it are allowed is the caller's to say.
func HTTPURLProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Host == "":
		return "must be an absolute URL with a host"
	}
	return ""
}

// HasUserinfo reports whether a URL that HTTPURLProblem accepted holds
// credentials.
func HasUserinfo(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.User != nil
}

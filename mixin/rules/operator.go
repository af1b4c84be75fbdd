package rules

import (
	"sort"

	"go.yaml.in/yaml/v3"
)

// PrometheusRule wraps every rule group in one prometheus-operator
// PrometheusRule resource, for clusters that load rules that way.
func (set *Set) PrometheusRule(name string) ([]byte, error) {
	type meta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	var groups []Group
	names := set.Names()
	sort.Strings(names)
	for _, n := range names {
		groups = append(groups, set.Files[n].Groups...)
	}
	doc := struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
		Spec       File   `yaml:"spec"`
	}{"monitoring.coreos.com/v1", "PrometheusRule", meta{name, map[string]string{"app.kubernetes.io/part-of": "hotel-ops"}}, File{Groups: groups}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte(Header), out...), nil
}

package dashboards

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Exprs returns every PromQL expression in the generated dashboards, with
// "$__rate_interval" replaced by "5m", keyed "<file>/<panel title>"; a
// panel with several queries adds "/<refId>" to tell them apart.
func Exprs(dashboards map[string][]byte) (map[string]string, error) {
	raw, err := rawExprs(dashboards)
	if err != nil {
		return nil, err
	}
	for k, e := range raw {
		raw[k] = strings.ReplaceAll(e, rateInterval, "5m")
	}
	return raw, nil
}

// jsonPanel is what Exprs reads of a panel; rows may hold panels.
type jsonPanel struct {
	Type    string      `json:"type"`
	Title   string      `json:"title"`
	Panels  []jsonPanel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// rawExprs is Exprs with Grafana's variables left in place.
func rawExprs(dashboards map[string][]byte) (map[string]string, error) {
	out := map[string]string{}
	var walk func(file string, ps []jsonPanel) error
	walk = func(file string, ps []jsonPanel) error {
		for _, p := range ps {
			for _, t := range p.Targets {
				key := file + "/" + p.Title
				if len(p.Targets) > 1 {
					key += "/" + t.RefID
				}
				if _, dup := out[key]; dup {
					return fmt.Errorf("%s: two queries named %q", file, key)
				}
				out[key] = t.Expr
			}
			if err := walk(file, p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	for file, data := range dashboards {
		var d struct {
			Panels []jsonPanel `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if err := walk(file, d.Panels); err != nil {
			return nil, err
		}
	}
	return out, nil
}

package dashboards

//lint:file-ignore SA1019 The v1 dashboard model is what every Grafana imports; dashboardv2 needs Grafana 12 with a feature flag.

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/hotel-ops/hotel-ops/mixin/rules"
	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

func generate(t *testing.T, layers ...spec.Layer) (*spec.Spec, map[string][]byte) {
	t.Helper()
	s, err := spec.Merge(layers...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, out
}

// panelJSON is what the tests read of a panel.
type panelJSON struct {
	Type        string      `json:"type"`
	ID          *uint32     `json:"id"`
	Title       string      `json:"title"`
	Datasource  *dsJSON     `json:"datasource"`
	Panels      []panelJSON `json:"panels"`
	Targets     []target    `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds *struct {
				Steps []struct {
					Value *float64 `json:"value"`
					Color string   `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type dsJSON struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string  `json:"refId"`
	Expr       string  `json:"expr"`
	Datasource *dsJSON `json:"datasource"`
}

type boardJSON struct {
	UID        string      `json:"uid"`
	Tags       []string    `json:"tags"`
	Timezone   string      `json:"timezone"`
	Refresh    string      `json:"refresh"`
	Panels     []panelJSON `json:"panels"`
	Templating struct {
		List []struct {
			Type  string `json:"type"`
			Name  string `json:"name"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Links []struct {
		Type string   `json:"type"`
		URL  string   `json:"url"`
		Tags []string `json:"tags"`
	} `json:"links"`
}

// panels lists a dashboard's panels, rows' children included.
func panels(ps []panelJSON) []panelJSON {
	var out []panelJSON
	for _, p := range ps {
		out = append(out, p)
		out = append(out, panels(p.Panels)...)
	}
	return out
}

func TestDashboardsAreWellFormed(t *testing.T) {
	s, files := generate(t)
	if len(files) != len(boards) {
		t.Fatalf("%d files, want %d", len(files), len(boards))
	}
	plugins.RegisterDefaultPlugins()
	for _, b := range boards {
		data := files[b.file]
		if !bytes.HasSuffix(data, []byte("}\n")) {
			t.Errorf("%s: does not end in a newline", b.file)
		}
		if bytes.Contains(data, []byte("__inputs")) {
			t.Errorf("%s: has __inputs", b.file)
		}
		// The SDK reads its own output back, strictly: no field it does
		// not know, none of the wrong type. (It reports success as an
		// empty BuildErrors, not as nil.)
		var strict dashboard.Dashboard
		err := strict.UnmarshalJSONStrict(data)
		if be, ok := err.(cog.BuildErrors); err != nil && (!ok || len(be) > 0) {
			t.Errorf("%s: %v", b.file, err)
		} else if strict.Uid == nil || *strict.Uid != b.uid {
			t.Errorf("%s: the SDK reads no uid back", b.file)
		}
		var d boardJSON
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", b.file, err)
		}
		if d.UID != b.uid || d.Timezone != s.Timezone || d.Refresh != "1m" || len(d.Tags) != 1 || d.Tags[0] != Tag {
			t.Errorf("%s: uid %q, timezone %q, refresh %q, tags %v", b.file, d.UID, d.Timezone, d.Refresh, d.Tags)
		}
		if l := d.Templating.List; len(l) != 1 || l[0].Type != "datasource" || l[0].Name != "datasource" || l[0].Query != "prometheus" {
			t.Errorf("%s: variables %+v, want the datasource variable alone", b.file, l)
		}
		var runbooks, others bool
		for _, l := range d.Links {
			runbooks = runbooks || (l.Type == "link" && l.URL == s.Links.Runbooks)
			others = others || (l.Type == "dashboards" && len(l.Tags) == 1 && l.Tags[0] == Tag)
		}
		if !runbooks || !others {
			t.Errorf("%s: links to the runbooks %v, to the other dashboards %v", b.file, runbooks, others)
		}
		titles, ids := map[string]bool{}, map[uint32]bool{}
		all := panels(d.Panels)
		if len(all) < 8 {
			t.Errorf("%s: only %d panels", b.file, len(all))
		}
		for _, p := range all {
			if p.ID == nil || ids[*p.ID] {
				t.Errorf("%s: %q has no id or a duplicate one", b.file, p.Title)
			} else {
				ids[*p.ID] = true
			}
			if p.Type == "row" {
				continue
			}
			if titles[p.Title] {
				t.Errorf("%s: two panels titled %q", b.file, p.Title)
			}
			titles[p.Title] = true
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: %q has no unit", b.file, p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: %q does not use ${datasource}", b.file, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: %q has no query", b.file, p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource == nil || q.Datasource.UID != "${datasource}" || q.Datasource.Type != "prometheus" {
					t.Errorf("%s: %q query %s does not use ${datasource}", b.file, p.Title, q.RefID)
				}
			}
		}
	}
}

func TestExprsParse(t *testing.T) {
	_, files := generate(t)
	exprs, err := Exprs(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) < 50 {
		t.Errorf("only %d expressions", len(exprs))
	}
	for _, key := range []string{"hotel-ops-realtime.json/CPU utilisation", "hotel-ops-realtime.json/Response time/B", "hotel-ops-sla.json/MTTR"} {
		if exprs[key] == "" {
			t.Errorf("no expression keyed %s", key)
		}
	}
	for where, e := range exprs {
		if strings.Contains(e, "$") {
			t.Errorf("%s: a Grafana variable is left in %q", where, e)
		}
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(e); err != nil {
			t.Errorf("%s: %q does not parse: %v", where, e, err)
		}
	}
}

// Every range in the dashboards is Grafana's $__rate_interval, which
// follows the zoom and the scrape interval, except the fixed windows of
// the SLOs and their burn rates.
func TestRangesUseTheRateInterval(t *testing.T) {
	s, files := generate(t)
	raw, err := rawExprs(files)
	if err != nil {
		t.Fatal(err)
	}
	const sentinel = 17*time.Minute + 33*time.Second
	fixed := map[time.Duration]bool{}
	for _, o := range s.SLOs {
		fixed[o.Window.D()] = true
	}
	for _, b := range s.BurnRates {
		fixed[b.Long.D()], fixed[b.Short.D()] = true, true
	}
	ranges := 0
	for where, e := range raw {
		e = strings.ReplaceAll(e, rateInterval, model.Duration(sentinel).String())
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch m := n.(type) {
			case *parser.MatrixSelector:
				ranges++
				if m.Range != sentinel && !fixed[m.Range] {
					t.Errorf("%s: range [%s] in %q is neither $__rate_interval nor an SLO window", where, model.Duration(m.Range), e)
				}
			case *parser.SubqueryExpr:
				t.Errorf("%s: subquery in %q", where, e)
			}
			return nil
		})
	}
	if ranges < 10 {
		t.Errorf("only %d ranges inspected", ranges)
	}
}

// The dashboards read the metrics the brief names and nothing else: a
// typo would show an empty panel, not an error.
func TestMetricNamesAreKnown(t *testing.T) {
	known := map[string]bool{}
	for _, n := range strings.Fields(`up http_requests_total http_request_duration_seconds_bucket
		node_cpu_seconds_total node_memory_MemAvailable_bytes node_memory_MemTotal_bytes
		node_filesystem_avail_bytes node_filesystem_size_bytes node_network_receive_bytes_total
		node_network_transmit_bytes_total node_network_speed_bytes
		sla_active_users sla_availability_ratio sla_downtime_seconds sla_automation_ratio sla_error_budget_remaining_ratio sla_orders_total sla_revenue_total sla_conversion_ratio
		pgha_up pgha_scrape_duration_seconds pgha_standby_lag_seconds pgha_replication_replay_lag_seconds pgha_connections
		pgha_max_connections pgha_queries_running_longer_than pgha_archiver_failed_total pgha_archiver_pending_segments
		pgha_replication_slot_retained_bytes
		pgha_pgbouncer_up pgha_pgbouncer_pool_client_connections pgha_pgbouncer_pool_server_connections pgha_pgbouncer_pool_size
		pgha_pgbouncer_pool_max_wait_seconds pgha_pgbouncer_stats_client_wait_seconds_total pgha_pgbouncer_client_connections
		pgha_pgbouncer_config_max_client_connections pgha_pgbouncer_database_current_connections pgha_pgbouncer_database_max_connections
		pitr_up pitr_refresh_duration_seconds pitr_refresh_last_success_timestamp_seconds pitr_s3_requests_total
		pitr_backup_last_completion_timestamp_seconds pitr_wal_last_archived_timestamp_seconds pitr_wal_missing_segments
		pitr_window_end_timestamp_seconds pitr_window_start_timestamp_seconds pitr_bucket_encryption_enabled
		pitr_repository_encrypted pitr_replica_wal_last_archived_timestamp_seconds pitr_repository_info
		pitr_restore_test_success pitr_restore_test_last_outcome pitr_restore_test_last_success_timestamp_seconds
		pitr_restore_test_rto_seconds pitr_restore_test_duration_seconds
		escalator_notifications_total escalator_timers_pending escalator_escalation_lag_seconds_bucket escalator_incidents_open
		escalator_delivery_duration_seconds_bucket
		job:http_requests:rate5m job:http_requests_errors:ratio_rate5m job:http_request_duration_seconds:p95_5m
		instance:node_cpu_utilisation:ratio instance:node_memory_utilisation:ratio slo:error_budget_remaining:ratio
		hotelops:incident_mttr_seconds:30d hotelops:incident_mtbf_seconds:30d`) {
		known[n] = true
	}
	for _, w := range []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"} {
		known["slo:sli_error:ratio_rate"+w] = true
	}
	_, files := generate(t)
	exprs, err := Exprs(files)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for where, e := range exprs {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				used[vs.Name] = true
				if !known[vs.Name] {
					t.Errorf("%s: unknown metric %s", where, vs.Name)
				}
			}
			return nil
		})
	}
	if len(used) < 40 {
		t.Errorf("only %d metrics used", len(used))
	}
}

// thresholdSteps returns the colour steps of a panel, the base as NaN-free
// nil first.
func thresholdSteps(t *testing.T, data []byte, title string) []*float64 {
	t.Helper()
	var d boardJSON
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range panels(d.Panels) {
		if p.Title != title || p.FieldConfig.Defaults.Thresholds == nil {
			continue
		}
		var out []*float64
		for _, s := range p.FieldConfig.Defaults.Thresholds.Steps {
			out = append(out, s.Value)
		}
		return out
	}
	t.Fatalf("no panel %q with thresholds", title)
	return nil
}

func sameSteps(got []*float64, want ...float64) bool {
	if len(got) != len(want)+1 || got[0] != nil {
		return false
	}
	for i, w := range want {
		if got[i+1] == nil || *got[i+1] != w {
			return false
		}
	}
	return true
}

func show(steps []*float64) []any {
	var out []any
	for _, s := range steps {
		if s == nil {
			out = append(out, nil)
		} else {
			out = append(out, *s)
		}
	}
	return out
}

func TestThresholdsFollowTheSpec(t *testing.T) {
	s, files := generate(t)
	rt := files["hotel-ops-realtime.json"]
	if got := thresholdSteps(t, rt, "CPU utilisation"); !sameSteps(got, 0.7, 0.85) {
		t.Errorf("CPU steps %v, want base, 0.7, 0.85", show(got))
	}
	if got := thresholdSteps(t, rt, "Response time"); !sameSteps(got, 0.5, 1) {
		t.Errorf("response time steps %v, want base, 0.5 s, 1 s", show(got))
	}
	sl := files["hotel-ops-sla.json"]
	if got := thresholdSteps(t, sl, "MTTR"); !sameSteps(got, s.Reliability.MTTR.Float()) || s.Reliability.MTTR.Float() != 4*3600 {
		t.Errorf("MTTR steps %v, want base, 4h", show(got))
	}
	if got := thresholdSteps(t, sl, "MTBF"); !sameSteps(got, 720*3600) {
		t.Errorf("MTBF steps %v, want base, 720h", show(got))
	}
	if got := thresholdSteps(t, files["hotel-ops-database.json"], "RPO: age of the newest archived WAL"); !sameSteps(got, 900) {
		t.Errorf("RPO steps %v, want base, 15m", show(got))
	}
	if got := thresholdSteps(t, files["hotel-ops-database.json"], "Restore tests: age of the last success"); !sameSteps(got, 92*86400) {
		t.Errorf("restore test age steps %v, want base, 92d", show(got))
	}
	// PgBouncer: the pools and the clients at the spec's 接続数 levels, the
	// waits at the slow-query levels, as the alerts.
	db := files["hotel-ops-database.json"]
	for title, want := range map[string][]float64{PanelPoolUse: {0.7, 0.85}, PanelBouncerClientUse: {0.7, 0.85}, PanelPoolMaxWait: {1, 5}} {
		if got := thresholdSteps(t, db, title); !sameSteps(got, want...) {
			t.Errorf("%s steps %v, want base, %v", title, show(got), want)
		}
	}
	// The objective each repository is held to is the alerts' own.
	exprs, err := Exprs(files)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"hotel-ops-database.json/" + PanelPoolUse:          rules.PgBouncerPoolUse(s),
		"hotel-ops-database.json/" + PanelBouncerClientUse: rules.PgBouncerClientUse(s),
	} {
		if got := exprs[key]; got != want {
			t.Errorf("%s: %q, want the rules' %q", key, got, want)
		}
	}
	for key, table := range map[string]map[string]spec.Value{
		"hotel-ops-database.json/RPO: age of the newest archived WAL/B":  s.Backup.RPO,
		"hotel-ops-database.json/Measured RTO vs the tier's objective/B": s.Backup.RTO,
	} {
		if got, want := exprs[key], rules.TierObjective(s, table); got != want {
			t.Errorf("%s: %q, want the rules' %q", key, got, want)
		}
	}

	_, over := generate(t, spec.Layer{Name: "x.yml", Data: []byte("thresholds:\n  cpu: {warning: 60%, critical: 75%}\n")})
	if got := thresholdSteps(t, over["hotel-ops-realtime.json"], "CPU utilisation"); !sameSteps(got, 0.6, 0.75) {
		t.Errorf("overridden CPU steps %v, want base, 0.6, 0.75", show(got))
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	_, first := generate(t)
	for i := 0; i < 5; i++ {
		_, again := generate(t)
		for name, data := range first {
			if !bytes.Equal(data, again[name]) {
				t.Fatalf("%s differs between two runs", name)
			}
		}
	}
}

func TestSpecChangesReachTheDashboards(t *testing.T) {
	_, files := generate(t, spec.Layer{Name: "x.yml", Data: []byte("timezone: Europe/Berlin\nselectors: {app: 'job=\"booking\"'}\nbackup: {cross_region: false}\n")})
	var d boardJSON
	if err := json.Unmarshal(files["hotel-ops-realtime.json"], &d); err != nil {
		t.Fatal(err)
	}
	if d.Timezone != "Europe/Berlin" {
		t.Errorf("timezone %q", d.Timezone)
	}
	exprs, err := Exprs(files)
	if err != nil {
		t.Fatal(err)
	}
	if e := exprs["hotel-ops-realtime.json/Request rate by status code"]; !strings.Contains(e, `job="booking"`) {
		t.Errorf("app selector not applied: %s", e)
	}
	if _, ok := exprs["hotel-ops-database.json/Cross-region copy lag"]; ok {
		t.Error("cross-region panel shown without a cross-region copy")
	}
}

func TestUnescapeHTML(t *testing.T) {
	for in, want := range map[string]string{
		`"a \u003e 0 \u0026\u0026 b \u003c 1"`: `"a > 0 && b < 1"`,
		`"\\u003e"`:                            `"\\u003e"`, // an escaped backslash, then text
		`"\"\u003e"`:                           `"\">"`,
	} {
		if got := string(unescapeHTML([]byte(in))); got != want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", in, got, want)
		}
	}
}

package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzPgBouncerRows: whatever columns and values a PgBouncer (any version,
// any database or user name) sends, the scrape's metrics gather without
// error in a pedantic registry, and never panic. Rows are given as text:
// rows separated by "\n", columns by "\t", each column name=value.
func FuzzPgBouncerRows(f *testing.F) {
	f.Add(uint8(0), "database=postgres\tuser=postgres\tcl_active=2\tcl_waiting=3\tsv_active=2\tmaxwait=1\tmaxwait_us=500")
	f.Add(uint8(1), "database=postgres\ttotal_query_count=10\ttotal_requests=3\ttotal_xact_time=1e6")
	f.Add(uint8(2), "name=postgres\tpool_size=2\tpool_mode=\nname=postgres\tpool_size=3")
	f.Add(uint8(3), "key=default_pool_size\tvalue=20\nkey=max_client_conn\tvalue=NaN")
	f.Add(uint8(4), "list=used_clients\titems=4\nlist=used_clients\titems=5")
	f.Add(uint8(5), "version=PgBouncer 1.18.0")
	f.Add(uint8(6), "name=app\tpool_size=        5\tmax_user_connections=0\nname=\xff\tpool_size=")
	f.Add(uint8(0), "database=\xff\tuser=\xfe\tcl_\xff=1\nuser=\xfd\tdatabase=\xff\tsv_=x")
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		var rows []row
		for _, line := range strings.Split(text, "\n") {
			r := row{}
			for _, col := range strings.Split(line, "\t") {
				k, v, _ := strings.Cut(col, "=")
				r[k] = v
			}
			rows = append(rows, r)
		}
		sh := &show{}
		*[]*[]row{&sh.pools, &sh.stats, &sh.databases, &sh.config, &sh.lists, &sh.version, &sh.users}[which%7] = rows
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(constCollector(sh.metrics()))
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather: %v", err)
		}
	})
}

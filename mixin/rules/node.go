package rules

import (
	"fmt"
	"time"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// Infrastructure rules from node_exporter: utilisation ratios recorded
// once, compared with the spec's warning and critical levels.

func nodeRecording(g *gen) []Rule {
	return []Rule{
		{Record: "instance:node_cpu_utilisation:ratio", Expr: fmt.Sprintf(
			`1 - avg by (job, instance) (rate(node_cpu_seconds_total%s[5m]))`, g.sel("node", `mode="idle"`))},
		{Record: "instance:node_memory_utilisation:ratio", Expr: fmt.Sprintf(
			`1 - node_memory_MemAvailable_bytes%s / node_memory_MemTotal_bytes%s`, g.sel("node"), g.sel("node"))},
		{Record: "instance_mountpoint:node_filesystem_utilisation:ratio", Expr: fmt.Sprintf(
			`1 - node_filesystem_avail_bytes%s / node_filesystem_size_bytes%s`, g.sel("node", g.s.Selectors["filesystem"]), g.sel("node", g.s.Selectors["filesystem"]))},
		// The busier direction of each link, against its speed; links that
		// report no speed (virtual devices) are left out.
		{Record: "instance_device:node_network_utilisation:ratio", Expr: fmt.Sprintf(
			`max by (job, instance, device) (label_replace(rate(node_network_receive_bytes_total%s[5m]), "direction", "receive", "", "") or label_replace(rate(node_network_transmit_bytes_total%s[5m]), "direction", "transmit", "", "")) / on (job, instance, device) (node_network_speed_bytes%s > 0)`,
			g.sel("node", g.s.Selectors["network_device"]), g.sel("node", g.s.Selectors["network_device"]), g.sel("node", g.s.Selectors["network_device"]))},
	}
}

func nodeLabels(g *gen) map[string]string {
	return g.mustLabels([]string{"node"}, map[string]string{"instance": "node-1:9100"})
}

func init() {
	above := func(record string) func(*gen, spec.Value) string {
		return func(_ *gen, v spec.Value) string { return fmt.Sprintf(`%s > %s`, record, v.PromQL()) }
	}
	cpuSeries := func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := merge(nodeLabels(g), map[string]string{"cpu": "0", "mode": "idle"})
		return []inputSeries{{series("node_cpu_seconds_total", ls), counterValues(segs, func(v float64) float64 { return (1 - v) * step.Seconds() })}}
	}
	memSeries := func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := nodeLabels(g)
		avail := make([]seg, len(segs))
		for i, s := range segs {
			avail[i] = seg{(1 - s.v) * 8e9, s.n}
		}
		return []inputSeries{
			{series("node_memory_MemAvailable_bytes", ls), gaugeValues(avail, step, constant)},
			{series("node_memory_MemTotal_bytes", ls), gaugeValues([]seg{{8e9, total(segs)}}, step, constant)},
		}
	}
	cpuFx := fixture{series: cpuSeries, labels: nodeLabels, okBad: higherIsWorse, earliest: minute, warmup: 5 * minute}
	memFx := fixture{series: memSeries, labels: nodeLabels, okBad: higherIsWorse}
	diskLabels := func(g *gen) map[string]string {
		return g.mustLabels([]string{"node", "filesystem"}, map[string]string{"instance": "node-1:9100", "device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"})
	}
	diskFx := fixture{labels: diskLabels, okBad: higherIsWorse, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := diskLabels(g)
		avail := make([]seg, len(segs))
		for i, s := range segs {
			avail[i] = seg{(1 - s.v) * 1e11, s.n}
		}
		return []inputSeries{
			{series("node_filesystem_avail_bytes", ls), gaugeValues(avail, step, constant)},
			{series("node_filesystem_size_bytes", ls), gaugeValues([]seg{{1e11, total(segs)}}, step, constant)},
		}
	}}
	netLabels := func(g *gen) map[string]string {
		return g.mustLabels([]string{"node", "network_device"}, map[string]string{"instance": "node-1:9100", "device": "eth0"})
	}
	netFx := fixture{labels: netLabels, okBad: higherIsWorse, earliest: minute, warmup: 5 * minute, series: func(g *gen, segs []seg, step time.Duration) []inputSeries {
		ls := netLabels(g)
		const speed = 125e6 // 1 Gbit/s
		return []inputSeries{
			{series("node_network_transmit_bytes_total", ls), counterValues(segs, func(v float64) float64 { return v * speed * step.Seconds() })},
			{series("node_network_receive_bytes_total", ls), counterValues(segs, func(v float64) float64 { return v / 2 * speed * step.Seconds() })},
			{series("node_network_speed_bytes", ls), gaugeValues([]seg{{speed, total(segs)}}, step, constant)},
		}
	}}
	// CPU or memory over the resource_usage level: both fixtures' series
	// at once, memory at the value and CPU idle.
	register(map[string]*def{
		"NodeCPUHigh":     {expr: above("instance:node_cpu_utilisation:ratio"), fx: cpuFx, dashboard: DashRealtime, window: 5 * minute, history: "node", on: "job, instance", describe: "CPU of {{ $labels.instance }} is {{ $value | humanizePercentage }} busy (warning above THRESHOLD)."},
		"NodeCPUCritical": {expr: above("instance:node_cpu_utilisation:ratio"), fx: cpuFx, dashboard: DashRealtime, window: 5 * minute, history: "node", on: "job, instance", describe: "CPU of {{ $labels.instance }} is {{ $value | humanizePercentage }} busy (critical above THRESHOLD)."},
		"NodeMemoryHigh": {expr: above("instance:node_memory_utilisation:ratio"), fx: memFx, dashboard: DashRealtime,
			describe: "Memory of {{ $labels.instance }} is {{ $value | humanizePercentage }} used (warning above THRESHOLD)."},
		"NodeMemoryCritical": {expr: above("instance:node_memory_utilisation:ratio"), fx: memFx, dashboard: DashRealtime,
			describe: "Memory of {{ $labels.instance }} is {{ $value | humanizePercentage }} used (critical above THRESHOLD)."},
		"NodeDiskHigh": {expr: above("instance_mountpoint:node_filesystem_utilisation:ratio"), fx: diskFx, dashboard: DashRealtime,
			describe: "{{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full (warning above THRESHOLD)."},
		"NodeDiskCritical": {expr: above("instance_mountpoint:node_filesystem_utilisation:ratio"), fx: diskFx, dashboard: DashRealtime,
			describe: "{{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full (critical above THRESHOLD)."},
		"NodeNetworkHigh": {expr: above("instance_device:node_network_utilisation:ratio"), fx: netFx, dashboard: DashRealtime, window: 5 * minute, history: "node", on: "job, instance",
			describe: "{{ $labels.device }} on {{ $labels.instance }} runs at {{ $value | humanizePercentage }} of its speed (warning above THRESHOLD)."},
		"NodeNetworkCritical": {expr: above("instance_device:node_network_utilisation:ratio"), fx: netFx, dashboard: DashRealtime, window: 5 * minute, history: "node", on: "job, instance",
			describe: "{{ $labels.device }} on {{ $labels.instance }} runs at {{ $value | humanizePercentage }} of its speed (critical above THRESHOLD)."},
		"NodeExporterDown": {
			expr: func(g *gen, _ spec.Value) string {
				return fmt.Sprintf(`up%s == 0 or absent(up%s)`, g.sel("node"), g.sel("node"))
			},
			fx: upFixture("node", nodeLabels), dashboard: DashRealtime,
			describe: "Prometheus cannot scrape node_exporter on {{ $labels.instance }} (or no node target is configured): CPU, memory, disk and network of the host are not watched."},
	})
}

func total(segs []seg) int {
	n := 0
	for _, s := range segs {
		n += s.n
	}
	return n
}

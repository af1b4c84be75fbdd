package runbooks

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hotel-ops/hotel-ops/mixin/spec"
)

// maintenance is what an SRE does on a maintenance night: the recurring
// windows mute warnings only, and a planned stop is a silence of its own,
// started when the stop starts and never longer than the spec allows.
func maintenance(b *bytes.Buffer, s *spec.Spec) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("<a id=\"maintenance\"></a>\n\n## Maintenance nights\n\n")
	p("Spec: 保守作業管理 / 定期保守スケジュール. The recurring windows mute warnings only; no window ever hides a critical alert.\n\n")
	p("| window | when (%s) | muted | planned stop |\n|---|---|---|---|\n", s.Timezone)
	for _, w := range s.Maintenance {
		var when []string
		for _, t := range w.Times {
			days := "every day"
			if len(t.Weekdays) > 0 {
				days = strings.Join(t.Weekdays, ", ")
			}
			if len(t.DaysOfMonth) > 0 {
				days += " (days " + strings.Join(t.DaysOfMonth, ", ") + ")"
			}
			if len(t.Months) > 0 {
				days += " in " + strings.Join(t.Months, ", ")
			}
			when = append(when, fmt.Sprintf("%s %s-%s", days, t.Start, t.End))
		}
		var muted []string
		for _, m := range w.Mutes {
			var kv []string
			for _, k := range spec.SortedKeys(m) {
				kv = append(kv, k+"="+m[k])
			}
			muted = append(muted, strings.Join(kv, " "))
		}
		stop := "none"
		if w.PlannedStop != nil {
			stop = "at most " + w.PlannedStop.Max.String()
		}
		p("| %s | %s | %s | %s |\n", w.Name, strings.Join(when, "; "), strings.Join(muted, "; "), stop)
	}
	p("\nOn the night of a planned stop:\n\n")
	p("1. When the stop actually begins (not when the window opens), run `escalator maintenance start <window>` (for example `escalator maintenance start monthly`). It creates Alertmanager silences for what the stop takes down, ending at most the window's planned stop after now; `--duration` may shorten it, never lengthen it.\n")
	p("2. Watch the console and the realtime dashboard: criticals of teams outside the stop still page.\n")
	p("3. When the service is back, run `escalator maintenance end <window>`; alerts still firing then page at once.\n")
	p("4. If the stop overruns, the silences expire on their own and every critical that still fires pages: the overrun is an incident, handled by its alert's runbook below. Do not extend the silence past the spec's maximum; the critical RTO is %s.\n\n", s.Backup.RTO["critical"].Human())
}

// Package hostload reads how busy the machine already is, for the load and
// bench commands to print beside their own figures.
package hostload

import (
	"os"
	"strings"
)

// Average is /proc/loadavg's 1, 5 and 15 minute figures, or "n/a" where
// there is none.
func Average() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

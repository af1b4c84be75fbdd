// Package examples holds the shipped example configuration, embedded so
// that the mixin can check that the metrics its dashboards read are the
// ones the example defines.
package examples

import _ "embed"

// Hotel is hotel.yml: the hotel booking schema's business metrics, the
// spec's SLA and its reports.
//
//go:embed hotel.yml
var Hotel []byte

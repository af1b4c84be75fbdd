package api

import (
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/webhook/payload"
)

func mustParse(tb testing.TB, s string) *payload.Delivery {
	d, err := payload.Parse(strings.NewReader(s))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

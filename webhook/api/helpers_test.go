package api

import (
	"strings"
	"testing"

	"github.com/hotel-ops/hotel-ops/webhook/escalate"
	"github.com/hotel-ops/hotel-ops/webhook/payload"
	"github.com/hotel-ops/hotel-ops/webhook/store"
)

func mustParse(tb testing.TB, s string) *payload.Delivery {
	d, err := payload.Parse(strings.NewReader(s))
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// serve is escalator's handler for eng on its store st, as main wires
// them: the engine receives and acknowledges, the store is read.
func serve(eng *escalate.Engine, st store.Store, s *Server) *Server {
	s.Receiver, s.Acker, s.Incidents = eng, eng, st
	return s
}

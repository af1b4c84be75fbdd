package store

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The embedded store's records are JSON, encoded and decoded here with
// encoding/json/v2's engine (github.com/go-json-experiment/json): a
// storm encodes an incident, its state and its audit entries for every
// alert and decodes a state for every one it has seen, and v2 decodes in
// under half the time of encoding/json. The options keep what
// encoding/json wrote and reads: nil maps and slices as null, map keys
// sorted (a state's bytes are compared to see whether it changed), and
// invalid UTF-8 (Alertmanager passes on whatever a label held) written as
// U+FFFD rather than refused.
var (
	encodeOptions = jsonv2.JoinOptions(jsonv2.Deterministic(true), jsonv2.FormatNilMapAsNull(true),
		jsonv2.FormatNilSliceAsNull(true), jsontext.AllowInvalidUTF8(true))
	decodeOptions = jsontext.AllowInvalidUTF8(true)
)

func marshal(v any) ([]byte, error) { return jsonv2.Marshal(v, encodeOptions) }

func unmarshal(data []byte, v any) error { return jsonv2.Unmarshal(data, v, decodeOptions) }

package engine

import (
	"bytes"
	"encoding/json"
)

// unmarshalJSON decodes with UseNumber, as the storage contract requires
// for metadata. Only control-plane data (metadata, subscriptions) goes
// through here, never message bodies.
func unmarshalJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

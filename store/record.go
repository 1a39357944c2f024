package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// RecordName returns the Name of a Resource encoded with encoding/json, as
// both backends store their records, reading no further than the name.
// encoding/json writes the fields in Resource's order, name before
// members, so a large group's member list is never decoded (the backends
// rebuild and repair their group name indexes with it); fields in another
// order are still read correctly, only further. A record without a name
// field has the Name "".
func RecordName(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", errors.New("record is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("decode record: %w", err)
		}
		if key, _ := tok.(string); key == "name" {
			var name string
			if err := dec.Decode(&name); err != nil {
				return "", fmt.Errorf("decode record name: %w", err)
			}
			return name, nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", fmt.Errorf("decode record: %w", err)
		}
	}
	return "", nil
}

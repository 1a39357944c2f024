package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRecordName(t *testing.T) {
	g := Resource{Kind: KindGroup, ID: "g1", Source: "okta", ExternalID: "x", Name: "Ünïcode \"quoted\" \x00",
		Attributes: map[string]any{"name": "not this one"}}
	for i := range 1000 {
		g.Members = append(g.Members, Member{Value: strings.Repeat("m", i%40)})
	}
	encoded, err := json.Marshal(&g)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, record, want string
		fails              bool
	}{
		{what: "an encoded group", record: string(encoded), want: g.Name},
		{what: "name after members", record: `{"members":[{"value":"u1"}],"attributes":{"name":"no"},"name":"G"}`, want: "G"},
		{what: "no name", record: `{"kind":"Group","id":"g1"}`, want: ""},
		{what: "stops at the name", record: `{"kind":"Group","name":"G","members":[not json`, want: "G"},
		{what: "escapes", record: `{"name":"\u00c4\ud83e\udd8a\n"}`, want: "Ä🦊\n"},
		{what: "not an object", record: `["name","G"]`, fails: true},
		{what: "truncated", record: `{"kind":"Gro`, fails: true},
		{what: "a name that is no string", record: `{"name":7}`, fails: true},
		{what: "empty", record: ``, fails: true},
	} {
		got, err := RecordName([]byte(tc.record))
		switch {
		case tc.fails && err == nil:
			t.Errorf("%s: RecordName = %q, want an error", tc.what, got)
		case !tc.fails && (err != nil || got != tc.want):
			t.Errorf("%s: RecordName = %q, %v; want %q", tc.what, got, err, tc.want)
		}
	}
}

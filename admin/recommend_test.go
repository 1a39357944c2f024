package admin_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/tenurehq/tenure/admin"
)

// RecommendValues and ParseRecommendQuery are each other's inverse, and
// malformed parameters are each reported.
func TestRecommendQuery(t *testing.T) {
	q := admin.RecommendQuery{
		Targets:      []string{"dir", "app"},
		Attributes:   []admin.RecommendAttribute{{Name: "title"}, {Name: "level", Expr: `user.title.split(" ").last().orValue("") == "x"`}},
		MinGroupSize: 3, MinSupport: 4, MinConfidence: 0.7, Significance: 0.05, OutlierShare: -1, NoPairs: true, IncludeGranted: true, MaxListed: 7,
	}
	got, err := admin.ParseRecommendQuery(admin.RecommendValues(q))
	if err != nil || !reflect.DeepEqual(got, q) {
		t.Errorf("round trip: %+v, %v\nwant %+v", got, err, q)
	}
	if got, err := admin.ParseRecommendQuery(nil); err != nil || !reflect.DeepEqual(got, admin.RecommendQuery{}) {
		t.Errorf("no parameters: %+v, %v", got, err)
	}
}

// GET /recommendations: an analysis of the (empty) snapshot; a target the
// policy lacks is 404; a bad parameter or attribute 400.
func TestRecommendEndpoint(t *testing.T) {
	a := newAPI(t, nil)
	status, _, body := a.call(t, http.MethodGet, "/admin/v1/recommendations?min-support=3", "")
	var rep admin.Recommendations
	if err := json.Unmarshal([]byte(body), &rep); status != http.StatusOK || err != nil {
		t.Fatalf("status %d, %v: %s", status, err, body)
	}
	if rep.People != 0 || rep.Options.MinSupport != 3 || len(rep.Targets) != 1 || rep.Suggestions == nil {
		t.Errorf("report %+v", rep)
	}
	for _, tc := range []struct {
		query  string
		status int
		want   string
	}{
		{"target=nope", http.StatusNotFound, `no such target: "nope"`},
		{"attribute=t%3Duser.title%20%2B", http.StatusBadRequest, "Syntax error"},
		{"min-support=lots&min-confidence=2&no-pairs=maybe", http.StatusBadRequest, "min-support must be a number"},
		{"min-confidence=2", http.StatusBadRequest, "min-confidence must be a number from 0 to 1"},
		{"no-pairs=maybe", http.StatusBadRequest, "no-pairs must be true or false"},
		{"min-group=2.5", http.StatusBadRequest, "min-group must be a whole number"},
	} {
		status, _, body := a.call(t, http.MethodGet, "/admin/v1/recommendations?"+tc.query, "")
		if status != tc.status {
			t.Errorf("%s: status %d: %s", tc.query, status, body)
		}
		wantError(t, body, tc.status, tc.want)
	}
}

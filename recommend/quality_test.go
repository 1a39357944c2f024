package recommend_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenurehq/tenure/recommend"
	"github.com/tenurehq/tenure/recommend/recommendtest"
)

var at = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// TestPlantedRules: on synthetic organisations (several seeds, sizes and
// noise levels) the planted rules are suggested, the decoys are not, and
// precision and recall of rules and outliers reach 0.9 at 5% noise.
func TestPlantedRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		org    recommendtest.Options
		strict bool // every planted rule found, nothing else suggested
	}{
		{"seed1-2000", recommendtest.Options{Seed: 1}, true},
		{"seed2-2000", recommendtest.Options{Seed: 2}, true},
		{"seed3-5000", recommendtest.Options{Seed: 3, People: 5000}, true},
		{"seed4-1000", recommendtest.Options{Seed: 4, People: 1000}, false},
		{"seed5-noise10", recommendtest.Options{Seed: 5, Noise: 0.10}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			org := recommendtest.Generate(tc.org)
			rep, err := recommend.Analyze(context.Background(), org.Input, recommend.Options{Attributes: org.Attributes}, at)
			if err != nil {
				t.Fatal(err)
			}
			q := recommendtest.Score(org, rep)
			t.Logf("people %d, groups %d, suggestions %d: rules P=%.3f R=%.3f, outliers P=%.3f R=%.3f (%d)",
				rep.People, rep.Groups, len(rep.Suggestions), q.RulePrecision, q.RuleRecall, q.OutlierPrecision, q.OutlierRecall, len(rep.Outliers))
			if len(q.Decoys) > 0 {
				t.Errorf("decoys suggested: %v", q.Decoys)
			}
			if tc.strict && (len(q.Extra) > 0 || len(q.Missed) > 0) {
				t.Errorf("extra %v\nmissed %v", q.Extra, q.Missed)
			}
			for what, v := range map[string]float64{"rule precision": q.RulePrecision, "rule recall": q.RuleRecall,
				"outlier precision": q.OutlierPrecision, "outlier recall": q.OutlierRecall} {
				if v < 0.9 {
					t.Errorf("%s %.3f < 0.9 (extra %v, missed %v)", what, v, q.Extra, q.Missed)
				}
			}
		})
	}
}

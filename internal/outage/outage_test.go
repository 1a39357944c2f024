package outage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestOneLineEachWay(t *testing.T) {
	var buf bytes.Buffer
	o := New(slog.New(slog.NewTextHandler(&buf, nil)), "redis unreachable", "redis reachable again")
	o.OK() // no outage: nothing to say
	for range 3 {
		for range 100 {
			o.Failed(errors.New("connection refused"))
		}
		if !o.Down() {
			t.Fatal("Down() = false during an outage")
		}
		o.OK()
		o.OK()
	}
	out := buf.String()
	if n := strings.Count(out, "redis unreachable"); n != 3 {
		t.Errorf("%d lines for 3 outages' starts, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, "redis reachable again"); n != 3 {
		t.Errorf("%d lines for 3 outages' ends, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "failures=100") || !strings.Contains(out, "connection refused") {
		t.Errorf("the lines lack the count or the error:\n%s", out)
	}
	if o.Down() {
		t.Error("Down() = true after OK")
	}
}

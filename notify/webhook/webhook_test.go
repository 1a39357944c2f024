package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenurehq/tenure/notify"
)

// TestDelivery: a delivery is JSON with the headers the docs name and a
// signature Verify accepts; the receiver's answer decides retry or not.
func TestDelivery(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var status atomic.Int32
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	w, err := New(Options{URL: srv.URL, Secret: "s3cret", Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := notify.Message{ID: "m1/webhook", Event: notify.EventCreated, Request: "r1", Text: "x"}
	for _, c := range []struct {
		status    int
		permanent bool
		ok        bool
	}{
		{200, false, true}, {204, false, true},
		{429, false, false}, {503, false, false}, {408, false, false},
		{400, true, false}, {404, true, false}, {410, true, false},
	} {
		status.Store(int32(c.status))
		err := w.Notify(context.Background(), m)
		r, body := <-got, <-bodies
		if (err == nil) != c.ok || errors.Is(err, notify.ErrPermanent) != c.permanent {
			t.Errorf("status %d: %v; want ok %v permanent %v", c.status, err, c.ok, c.permanent)
		}
		if r.Header.Get(DeliveryHeader) != "m1/webhook" || r.Header.Get(EventHeader) != notify.EventCreated || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
		if err := Verify("s3cret", r.Header.Get(SignatureHeader), body, now.Add(time.Minute), 5*time.Minute); err != nil {
			t.Errorf("status %d: signature: %v", c.status, err)
		}
	}
	srv.Close()
	if err := w.Notify(context.Background(), m); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Errorf("a receiver that is down: %v, want a retryable error", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"m1"}`)
	good := Sign("s3cret", now, body)
	for _, c := range []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		want                 error
	}{
		{"good", "s3cret", good, body, now, nil},
		{"other secret", "other", good, body, now, ErrBadSignature},
		{"changed body", "s3cret", good, []byte(`{"id":"m2"}`), now, ErrBadSignature},
		{"replayed later", "s3cret", good, body, now.Add(6 * time.Minute), ErrStale},
		{"from the future", "s3cret", good, body, now.Add(-6 * time.Minute), ErrStale},
		{"no v1", "s3cret", "t=1", body, now, ErrBadSignature},
		{"garbage", "s3cret", "nonsense", body, now, ErrBadSignature},
	} {
		if err := Verify(c.secret, c.header, c.body, c.at, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

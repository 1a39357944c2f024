package boltq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/tenurehq/tenure/queue"
)

// Bucket names; the package documentation says what each holds.
const (
	bucketJobs   = "queue/jobs"
	bucketDue    = "queue/due"
	bucketLeases = "queue/leases"
	bucketDead   = "queue/dead"
	bucketMeta   = "queue/meta"

	// schemaVersion is the layout version kept under "schema" in queue/meta.
	schemaVersion = 1
)

var (
	metaSchema = []byte("schema")
	metaCounts = []byte("counts")
)

// maxKeyLen leaves room for the 8-byte time in front of a key in the indexes.
const maxKeyLen = bbolt.MaxKeySize - 8

// maxErrorLen bounds the kept error text: records are rewritten on every
// transition, and a target can fail with a whole HTML page.
const maxErrorLen = 4096

// noTime marks an absent pending due time or first failure. Stored times
// are clamped to [0, MaxInt64] nanoseconds since 1970, so it is never one.
const noTime int64 = -1

// state is how a record stores its queue.State.
type state byte

const (
	stateScheduled state = 1
	stateInFlight  state = 2
	stateDead      state = 3
)

func (s state) String() string { return string(s.public()) }

func (s state) public() queue.State {
	switch s {
	case stateScheduled:
		return queue.Scheduled
	case stateInFlight:
		return queue.InFlight
	case stateDead:
		return queue.Dead
	}
	return queue.State(fmt.Sprintf("state(%d)", byte(s)))
}

func stateOf(s queue.State) (state, error) {
	switch s {
	case queue.Scheduled:
		return stateScheduled, nil
	case queue.InFlight:
		return stateInFlight, nil
	case queue.Dead:
		return stateDead, nil
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

// record is what queue/jobs holds for a key. Times are nanoseconds since
// 1970.
type record struct {
	state     state
	due       int64  // scheduled: due; in flight: the due it was claimed at; dead: when it died
	pending   int64  // in flight: the earliest due scheduled while running, or noTime
	firstFail int64  // first failure since the last Ack or Replay, or noTime
	leaseEnd  int64  // in flight
	attempts  uint32 // failures since the last Ack or Replay
	lease     string // in flight: the holder's token
	lastError string
}

// newScheduled is a key with no history, due at due.
func newScheduled(due int64) *record {
	return &record{state: stateScheduled, due: due, pending: noTime, firstFail: noTime}
}

// indexAt is the time the record is listed under in its state's index,
// which is also its Entry.Due.
func (r *record) indexAt() int64 {
	if r.state == stateInFlight {
		return r.leaseEnd
	}
	return r.due
}

// entry describes the record for inspection.
func (r *record) entry(key string) queue.Entry {
	e := queue.Entry{
		Key:       key,
		State:     r.state.public(),
		Due:       timeOf(r.indexAt()),
		Attempts:  int(r.attempts),
		FirstFail: timeOf(r.firstFail),
		LastError: r.lastError,
	}
	if r.state == stateInFlight {
		e.Pending = timeOf(r.pending)
	}
	return e
}

// Record encoding, version 1, all integers big-endian:
//
//	version(1) state(1) due(8) pending(8) firstFail(8) leaseEnd(8)
//	attempts(4) len(lease)(1) lease lastError
const (
	recordVersion = 1
	recordFixed   = 1 + 1 + 8*4 + 4 + 1
)

func (r *record) encode() []byte {
	b := make([]byte, 0, recordFixed+len(r.lease)+len(r.lastError))
	b = append(b, recordVersion, byte(r.state))
	for _, t := range []int64{r.due, r.pending, r.firstFail, r.leaseEnd} {
		b = binary.BigEndian.AppendUint64(b, uint64(t))
	}
	b = binary.BigEndian.AppendUint32(b, r.attempts)
	b = append(b, byte(len(r.lease)))
	b = append(b, r.lease...)
	return append(b, r.lastError...)
}

func decodeRecord(v []byte) (*record, error) {
	if len(v) < recordFixed || v[0] != recordVersion {
		return nil, errors.New("corrupt job record")
	}
	r := &record{state: state(v[1])}
	if r.state < stateScheduled || r.state > stateDead {
		return nil, fmt.Errorf("job record in unknown state %d", v[1])
	}
	times := []*int64{&r.due, &r.pending, &r.firstFail, &r.leaseEnd}
	for i, t := range times {
		*t = int64(binary.BigEndian.Uint64(v[2+8*i:]))
	}
	r.attempts = binary.BigEndian.Uint32(v[34:])
	n := int(v[38])
	if len(v) < recordFixed+n {
		return nil, errors.New("corrupt job record")
	}
	r.lease = string(v[recordFixed : recordFixed+n])
	r.lastError = string(v[recordFixed+n:])
	return r, nil
}

// indexKey is an index entry: the 8-byte time, then the key. Times are
// never negative, so byte order is time order, and keys due at the same
// time follow in byte order. The fixed width needs no separator, so a key
// may contain any byte.
func indexKey(at int64, key string) []byte {
	b := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(b, uint64(at))
	return append(b, key...)
}

func splitIndexKey(k []byte) (at int64, key string) {
	return int64(binary.BigEndian.Uint64(k)), string(k[8:])
}

// nanos converts t to stored form, clamping it into [1970, 2262]: an
// earlier due time is as due as 1970, and a later one as far off as 2262.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func timeOf(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// plus is at + d, saturating; a negative d counts as zero.
func plus(at int64, d time.Duration) int64 {
	if d <= 0 {
		return at
	}
	if at > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return at + int64(d)
}

// earliest is the earlier of a due time and a pending due that may be noTime.
func earliest(due, pending int64) int64 {
	if pending == noTime {
		return due
	}
	return min(due, pending)
}

// errorText is the kept text of err, cut to maxErrorLen at a rune boundary.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) <= maxErrorLen {
		return s
	}
	n := maxErrorLen - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > maxKeyLen:
		return fmt.Errorf("key of %d bytes is longer than %d", len(key), maxKeyLen)
	}
	return nil
}

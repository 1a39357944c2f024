// Package slacktest is a local fake of the parts of Slack's Web API the
// Slack channel uses (chat.postMessage, chat.postEphemeral,
// users.lookupByEmail, users.info), checking each call as Slack's docs
// define it: a POST (or GET for reads) to /api/<method>, the bot token as
// "Authorization: Bearer" or a token parameter, the required parameters,
// blocks that parse, a thread_ts that names a message of that channel. A
// call it refuses answers {"ok":false,"error":…} like Slack, and fails the
// test. It also signs interaction payloads as Slack does.
package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Post is a message the fake accepted.
type Post struct {
	Method   string // chat.postMessage or chat.postEphemeral
	Channel  string // the channel it landed in (a DM is D<user>)
	User     string // the ephemeral message's user
	Text     string
	ThreadTS string
	TS       string
	Blocks   []map[string]any
}

// ActionIDs are the action ids of the post's buttons.
func (p Post) ActionIDs() []string {
	var out []string
	for _, b := range p.Blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			if m, _ := e.(map[string]any); m != nil {
				if id, _ := m["action_id"].(string); id != "" {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// ButtonValue is the value of the post's button with action id, or "".
func (p Post) ButtonValue(action string) string {
	for _, b := range p.Blocks {
		els, _ := b["elements"].([]any)
		for _, e := range els {
			if m, _ := e.(map[string]any); m != nil && m["action_id"] == action {
				v, _ := m["value"].(string)
				return v
			}
		}
	}
	return ""
}

// Server is the fake Web API.
type Server struct {
	*httptest.Server
	t        testing.TB
	token    string
	mu       sync.Mutex
	users    map[string]string // id → email
	channels map[string]bool
	posts    []Post
	seq      int
	// Fail, if set, answers a method call with this error code instead.
	Fail func(method string) string
}

// New starts the fake for the bot token, with users (Slack id → email)
// and channels that exist; it stops when t ends.
func New(t testing.TB, token string, users map[string]string, channels ...string) *Server {
	s := &Server{t: t, token: token, users: users, channels: map[string]bool{}}
	for _, c := range channels {
		s.channels[c] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL for the channel's Options.APIURL.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Posts returns the accepted messages in order.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	refuse := func(code string) {
		s.t.Errorf("slacktest: %s %s refused: %s", r.Method, r.URL.Path, code)
		writeJSON(w, map[string]any{"ok": false, "error": code})
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		refuse("invalid_form_data")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse("invalid_form_data")
		return
	}
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if bearer != s.token && r.Form.Get("token") != s.token {
		refuse("invalid_auth")
		return
	}
	if s.Fail != nil {
		if code := s.Fail(method); code != "" {
			writeJSON(w, map[string]any{"ok": false, "error": code})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case "users.lookupByEmail":
		email := r.Form.Get("email")
		for id, e := range s.users {
			if strings.EqualFold(e, email) {
				writeJSON(w, map[string]any{"ok": true, "user": user(id, e)})
				return
			}
		}
		// Not a test failure: Slack says so for people without an account.
		writeJSON(w, map[string]any{"ok": false, "error": "users_not_found"})
	case "users.info":
		id := r.Form.Get("user")
		e, ok := s.users[id]
		if !ok {
			refuse("user_not_found")
			return
		}
		writeJSON(w, map[string]any{"ok": true, "user": user(id, e)})
	case "chat.postMessage", "chat.postEphemeral":
		if r.Method != http.MethodPost {
			refuse("method_not_supported")
			return
		}
		p := Post{Method: method, Channel: r.Form.Get("channel"), Text: r.Form.Get("text"), ThreadTS: r.Form.Get("thread_ts"), User: r.Form.Get("user")}
		if _, isUser := s.users[p.Channel]; isUser && method == "chat.postMessage" {
			p.Channel = "D" + p.Channel // a user id opens the app's DM with them
		}
		if !s.channels[p.Channel] && !strings.HasPrefix(p.Channel, "D") {
			refuse("channel_not_found")
			return
		}
		if method == "chat.postEphemeral" {
			if _, ok := s.users[p.User]; !ok {
				refuse("user_not_in_channel")
				return
			}
		}
		if b := r.Form.Get("blocks"); b != "" {
			if err := json.Unmarshal([]byte(b), &p.Blocks); err != nil {
				refuse("invalid_blocks")
				return
			}
			for _, blk := range p.Blocks {
				switch blk["type"] {
				case "section", "actions":
				default:
					refuse("invalid_blocks")
					return
				}
			}
		}
		if p.Text == "" && len(p.Blocks) == 0 {
			refuse("no_text")
			return
		}
		if p.ThreadTS != "" && !s.hasMessage(p.Channel, p.ThreadTS) {
			refuse("thread_not_found")
			return
		}
		s.seq++
		p.TS = fmt.Sprintf("1700000000.%06d", s.seq)
		s.posts = append(s.posts, p)
		if method == "chat.postEphemeral" {
			writeJSON(w, map[string]any{"ok": true, "message_ts": p.TS})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "channel": p.Channel, "ts": p.TS,
			"message": map[string]any{"text": p.Text, "ts": p.TS, "thread_ts": p.ThreadTS}})
	default:
		refuse("unknown_method")
	}
}

func (s *Server) hasMessage(channel, ts string) bool {
	for _, p := range s.posts {
		if p.Channel == channel && p.TS == ts && p.Method == "chat.postMessage" {
			return true
		}
	}
	return false
}

func user(id, email string) map[string]any {
	return map[string]any{"id": id, "name": strings.Split(email, "@")[0], "profile": map[string]any{"email": email}}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Click is a block_actions interaction: user clicked the button action
// of post (in the channel the post landed in).
func Click(post Post, user, team, action string) url.Values {
	cb := map[string]any{
		"type":      "block_actions",
		"team":      map[string]any{"id": team},
		"user":      map[string]any{"id": user},
		"channel":   map[string]any{"id": post.Channel},
		"container": map[string]any{"type": "message", "channel_id": post.Channel, "message_ts": post.TS, "thread_ts": post.ThreadTS},
		"actions": []map[string]any{{"type": "button", "block_id": "tenure_decision", "action_id": action,
			"value": post.ButtonValue(action), "action_ts": "1700000000.000001"}},
	}
	b, _ := json.Marshal(cb)
	return url.Values{"payload": {string(b)}}
}

// Sign sets Slack's signature headers on r for body, signed at t.
func Sign(r *http.Request, secret string, body []byte, t time.Time) {
	ts := strconv.FormatInt(t.Unix(), 10)
	h := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(h, "v0:%s:", ts)
	h.Write(body)
	r.Header.Set("X-Slack-Request-Timestamp", ts)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(h.Sum(nil)))
}

// Deliver POSTs form to the interaction endpoint at target, signed with
// secret at t, as Slack does, and returns the status.
func Deliver(t testing.TB, target, secret string, form url.Values, at time.Time) int {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	Sign(req, secret, body, at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slacktest: deliver: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tenurehq/tenure/store"
)

// ns holds the console's documents in the store, beside the engine's, so
// that sessions live on both backends and every replica sees them:
// s/<digest> a session, l/<digest> a sign-in under way. Keys are SHA-256
// digests of the cookie values, so a copy of the store (a backup) holds
// no usable session.
const ns store.Namespace = "console"

// Cookie names. Both are Secure, HttpOnly and SameSite=Lax (an IdP's
// redirect back is a cross-site navigation: Strict would drop the sign-in
// cookie on it), with the console's path.
const (
	sessionCookie = "tenure_console"
	loginCookie   = "tenure_console_login"
)

// loginTTL bounds a sign-in at the IdP.
const loginTTL = 10 * time.Minute

// session is a signed-in user's state.
type session struct {
	// Person is the person id the user is; empty for break-glass.
	Person string `json:"person,omitempty"`
	// Name is who acts, in the audit log: the person's userName, or
	// "break-glass".
	Name       string         `json:"name"`
	Claims     map[string]any `json:"claims,omitempty"`
	BreakGlass bool           `json:"breakGlass,omitempty"`
	// CSRF is the token every state-changing form carries.
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`
	Expires time.Time `json:"expires"`
	// Flash is a message for the next page (the outcome of an action).
	Flash string `json:"flash,omitempty"`
}

// pendingLogin is a sign-in under way at the IdP: what the callback must
// find again (state, nonce) and the PKCE verifier.
type pendingLogin struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Return   string    `json:"return,omitempty"`
	Expires  time.Time `json:"expires"`
}

// randomToken is 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(v string) string {
	d := sha256.Sum256([]byte(v))
	return hex.EncodeToString(d[:])
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

func putDoc(ctx context.Context, st store.Store, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.Update(ctx, func(tx store.Tx) error { return tx.PutDoc(ns, key, b) })
}

func getDoc[T any](ctx context.Context, st store.Store, key string) (*T, error) {
	var b []byte
	err := st.View(ctx, func(r store.Reader) error {
		var err error
		b, err = r.GetDoc(ns, key)
		return err
	})
	return decodeDoc[T](key, b, err)
}

// decodeDoc decodes a document read with err: nil for one that is absent.
func decodeDoc[T any](key string, b []byte, err error) (*T, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", ns, key, err)
	}
	return v, nil
}

func deleteDoc(ctx context.Context, st store.Store, key string) error {
	return st.Update(ctx, func(tx store.Tx) error { return tx.DeleteDoc(ns, key) })
}

// takeDoc reads and deletes a document in one transaction: a sign-in's
// state can be used once.
func takeDoc[T any](ctx context.Context, st store.Store, key string) (*T, error) {
	var b []byte
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		if b, err = tx.GetDoc(ns, key); err != nil {
			return err
		}
		return tx.DeleteDoc(ns, key)
	})
	return decodeDoc[T](key, b, err)
}

func sessionKey(id string) string { return "s/" + digest(id) }
func loginKey(id string) string   { return "l/" + digest(id) }

// cookie is one of the console's cookies; maxAge < 0 deletes it.
func (c *Console) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: c.path + "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// startSession stores a new session under a new random id and sets its
// cookie. The id is never one the browser sent: whatever cookie an
// attacker planted before sign-in (session fixation) is dropped and its
// session, if any, deleted.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, s *session) error {
	if old, err := r.Cookie(sessionCookie); err == nil {
		if err := deleteDoc(r.Context(), c.st, sessionKey(old.Value)); err != nil {
			return err
		}
	}
	now := c.now()
	s.CSRF, s.Created, s.Seen, s.Expires = randomToken(), now, now, now.Add(c.ttl)
	id := randomToken()
	if err := putDoc(r.Context(), c.st, sessionKey(id), s); err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(sessionCookie, id, int(c.ttl/time.Second)))
	c.sweepExpired(r.Context())
	return nil
}

// loadSession returns the request's session, nil if there is none or it
// ended (expired, idle too long: then it is deleted). Seen is written at
// most once a minute, not on every page.
func (c *Console) loadSession(r *http.Request) (*session, string, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, "", nil
	}
	key := sessionKey(ck.Value)
	s, err := getDoc[session](r.Context(), c.st, key)
	if err != nil || s == nil {
		return nil, "", err
	}
	now := c.now()
	if !now.Before(s.Expires) || now.Sub(s.Seen) >= c.idle {
		return nil, "", deleteDoc(r.Context(), c.st, key)
	}
	if now.Sub(s.Seen) >= time.Minute {
		s.Seen = now
		if err := putDoc(r.Context(), c.st, key, s); err != nil {
			return nil, "", err
		}
	}
	return s, key, nil
}

// sweepInterval is how often sign-ins delete expired sessions and
// abandoned sign-ins.
const sweepInterval = 10 * time.Minute

// sweepExpired deletes ended sessions and sign-ins, at most once per
// sweepInterval, so that the namespace does not grow with every browser
// that never signed out.
func (c *Console) sweepExpired(ctx context.Context) {
	now := c.now()
	last := c.lastSweep.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < sweepInterval || !c.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	var dead []string
	err := c.st.View(ctx, func(r store.Reader) error {
		return r.ScanDocs(ns, "", false, func(key string, val []byte) (bool, error) {
			var v struct {
				Expires time.Time `json:"expires"`
				Seen    time.Time `json:"seen"`
			}
			if json.Unmarshal(val, &v) != nil || !now.Before(v.Expires) ||
				!v.Seen.IsZero() && now.Sub(v.Seen) >= c.idle {
				dead = append(dead, key)
			}
			return true, nil
		})
	})
	if err == nil && len(dead) > 0 {
		err = c.st.Update(ctx, func(tx store.Tx) error {
			for _, k := range dead {
				if err := tx.DeleteDoc(ns, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		c.log.Warn("console: sweep of ended sessions failed", "err", err)
	}
}

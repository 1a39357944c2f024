package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tenurehq/tenure/notify"
)

// DecidePath is where cmd/tenure serve mounts Handler.
const DecidePath = "/decide/"

// claims are what a link says: who may decide what, until when.
type claims struct {
	Request string `json:"r"`
	Step    int    `json:"s"`
	Person  string `json:"p"`
	Email   string `json:"m"`
	Item    string `json:"i,omitempty"`
	Approve bool   `json:"a"`
	Expires int64  `json:"e"`
}

// sign is the token of c: base64url(JSON) "." base64url(HMAC-SHA256).
func (e *Email) sign(c claims) string {
	body, _ := json.Marshal(c) // plain fields: cannot fail
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(e.mac(p))
}

func (e *Email) mac(payload string) []byte {
	h := hmac.New(sha256.New, []byte(e.opts.LinkSecret))
	h.Write([]byte("tenure-decision-link.v1." + payload))
	return h.Sum(nil)
}

// Link errors.
var (
	ErrInvalidLink = errors.New("email: link is not valid")
	ErrExpiredLink = errors.New("email: link has expired")
	ErrUsedLink    = errors.New("email: link was used already")
)

// verify checks token's signature (constant time) and expiry.
func (e *Email) verify(token string) (claims, error) {
	var c claims
	p, sig, ok := strings.Cut(token, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, e.mac(p)) {
		return c, ErrInvalidLink
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(body, &c) != nil || c.Request == "" || c.Person == "" {
		return c, ErrInvalidLink
	}
	if !e.opts.Now().Before(time.Unix(c.Expires, 0)) {
		return c, ErrExpiredLink
	}
	return c, nil
}

// usedKey is the ledger key of a link's use: a hash, so the store never
// holds a working token.
func usedKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "used/" + hex.EncodeToString(sum[:])
}

// Handler serves the links: GET shows what the link will do and a button,
// POST does it. Refusals are pages with a status: 403 an invalid link or
// a decision the engine refused, 410 an expired link, 409 a used one.
func (e *Email) Handler(d notify.Decider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer") // the token is in the URL
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
		token := strings.TrimPrefix(r.URL.Path, DecidePath)
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			h.Set("Allow", "GET, POST")
			e.page(w, http.StatusMethodNotAllowed, "", "GET or POST only.", "")
			return
		}
		c, err := e.verify(token)
		if err == nil {
			if _, used, lerr := e.ledger.Get(r.Context(), usedKey(token)); lerr != nil {
				err = lerr
			} else if used {
				err = ErrUsedLink
			}
		}
		if err != nil {
			e.refuse(w, err)
			return
		}
		verb := map[bool]string{true: "Approve", false: "Deny"}[c.Approve]
		if r.Method == http.MethodGet {
			e.links.WithLabelValues("shown").Inc()
			e.page(w, http.StatusOK, verb+" access request "+c.Request,
				fmt.Sprintf("%s request %s (%s) as %s? The link works once.", verb, c.Request, c.Item, c.Email), verb)
			return
		}
		e.decide(w, r, d, token, c)
	})
}

// decide claims the link, then decides. A decision Tenure could not
// record releases the claim, so the approver can try again.
func (e *Email) decide(w http.ResponseWriter, r *http.Request, d notify.Decider, token string, c claims) {
	ctx := r.Context()
	claimed, _, err := e.ledger.Claim(ctx, usedKey(token), e.opts.Now().UTC().Format(time.RFC3339))
	switch {
	case err != nil:
		e.refuse(w, err)
		return
	case !claimed:
		e.refuse(w, ErrUsedLink)
		return
	}
	sum := sha256.Sum256([]byte(token))
	proof := fmt.Sprintf("one-time email link sent to %s (link sha256 %x, expires %s)", c.Email, sum[:8],
		time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	step := c.Step
	state, err := d.Decide(ctx, notify.Decision{Request: c.Request, Step: &step, Approve: c.Approve,
		Person: c.Person, Channel: "email", Proof: proof})
	if err != nil && !errors.Is(err, notify.ErrRefused) {
		if derr := e.ledger.Delete(ctx, usedKey(token)); derr != nil {
			e.log.Error("email: releasing a link after a failed decision failed; the link stays used", "request", c.Request, "err", derr)
		}
	}
	if err != nil {
		e.refuse(w, err)
		return
	}
	e.links.WithLabelValues("decided").Inc()
	e.page(w, http.StatusOK, "Decision recorded", fmt.Sprintf("Request %s is %s now. Thank you.", c.Request, state), "")
}

func (e *Email) refuse(w http.ResponseWriter, err error) {
	var status int
	var outcome, text string
	switch {
	case errors.Is(err, ErrInvalidLink):
		status, outcome, text = http.StatusForbidden, "invalid", "This link is not valid."
	case errors.Is(err, ErrExpiredLink):
		status, outcome, text = http.StatusGone, "expired", "This link has expired."
	case errors.Is(err, ErrUsedLink):
		status, outcome, text = http.StatusConflict, "used", "This link was used already; each link works once."
	case errors.Is(err, notify.ErrRefused):
		status, outcome = http.StatusForbidden, "refused"
		text = "Your decision was refused: " + strings.TrimPrefix(err.Error(), notify.ErrRefused.Error()+": ")
	default:
		status, outcome, text = http.StatusServiceUnavailable, "error", "Tenure could not record the decision now; try the link again later."
		e.log.Error("email: a decision link failed", "err", err)
	}
	e.links.WithLabelValues(outcome).Inc()
	e.page(w, status, "Not decided", text, "")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tenure: {{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Button}}<form method="post"><button type="submit">{{.Button}}</button></form>{{end}}
</body></html>
`))

// page writes a small page; button, if set, posts the form to the link.
func (e *Email) page(w http.ResponseWriter, status int, title, text, button string) {
	if title == "" {
		title = "Tenure"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, map[string]string{"Title": title, "Text": text, "Button": button})
}

package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tenurehq/tenure/admin"
	"github.com/tenurehq/tenure/internal/httpx"
	"github.com/tenurehq/tenure/store"
)

// OIDC is the OpenID provider the console signs people in with.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client (PKCE alone)
	// Scopes are asked for besides openid.
	Scopes []string
	// Claim is the ID token claim holding the person's userName.
	Claim string
}

// oidcClient discovers the provider on first use, not at start, so that
// an IdP that is down does not stop Tenure from serving (break-glass
// still works) and a later sign-in retries the discovery.
type oidcClient struct {
	cfg      OIDC
	redirect string

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDCClient(cfg OIDC, redirect string) *oidcClient {
	return &oidcClient{cfg: cfg, redirect: redirect}
}

// discoveryTimeout bounds the provider's discovery.
const discoveryTimeout = 10 * time.Second

func (o *oidcClient) setup(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
		defer cancel()
		p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
		}
		o.provider = p
	}
	oc := &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.redirect,
		Endpoint: o.provider.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...),
	}
	return oc, o.provider, nil
}

// GET /login: a sign-in starts. State, nonce and the PKCE verifier are
// kept server-side under a random id the login cookie carries; the IdP
// sees only the state, the nonce and the verifier's challenge.
func (c *Console) login(w http.ResponseWriter, r *http.Request, _ *user) {
	if c.oidc == nil {
		c.fail(w, r, nil, http.StatusNotFound, errors.New("OIDC sign-in is not configured"))
		return
	}
	oc, _, err := c.oidc.setup(r.Context())
	if err != nil {
		c.signins.WithLabelValues("oidc", "error").Inc()
		c.log.Error("console: OIDC provider unavailable", "err", err, "request_id", httpx.RequestID(r.Context()))
		c.fail(w, r, nil, http.StatusServiceUnavailable, errors.New("the identity provider cannot be reached; try again later"))
		return
	}
	pl := &pendingLogin{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Return: c.signinReturn(r.URL.Query().Get("return")), Expires: c.now().Add(loginTTL)}
	id := randomToken()
	if err := putDoc(r.Context(), c.st, loginKey(id), pl); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, err)
		return
	}
	http.SetCookie(w, c.cookie(loginCookie, id, int(loginTTL/time.Second)))
	http.Redirect(w, r, oc.AuthCodeURL(pl.State, oidc.Nonce(pl.Nonce), oauth2.S256ChallengeOption(pl.Verifier)), http.StatusFound)
}

// GET /callback: the IdP sends the browser back with a code. The sign-in
// must be this browser's (the login cookie), used once, not expired; the
// state must match; the code is exchanged with the PKCE verifier; the ID
// token must verify (issuer, audience, expiry, signature) and carry the
// nonce; its claim must name a person whom the policy gives a role.
func (c *Console) callback(w http.ResponseWriter, r *http.Request, _ *user) {
	refuse := func(status int, why string, err error) {
		result := "refused"
		if status >= 500 {
			result = "error"
		}
		c.signins.WithLabelValues("oidc", result).Inc()
		c.log.Warn("console: sign-in refused", "why", why, "err", err, "request_id", httpx.RequestID(r.Context()))
		c.fail(w, r, nil, status, errors.New(why))
	}
	if c.oidc == nil {
		refuse(http.StatusNotFound, "OIDC sign-in is not configured", nil)
		return
	}
	http.SetCookie(w, c.cookie(loginCookie, "", -1))
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		refuse(http.StatusForbidden, "the identity provider refused the sign-in: "+e, nil)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil {
		refuse(http.StatusBadRequest, "this sign-in was not started in this browser: start again", err)
		return
	}
	pl, err := takeDoc[pendingLogin](r.Context(), c.st, loginKey(ck.Value))
	switch {
	case err != nil:
		refuse(http.StatusInternalServerError, "the sign-in could not be read", err)
		return
	case pl == nil || !c.now().Before(pl.Expires):
		refuse(http.StatusBadRequest, "this sign-in expired or was used already: start again", nil)
		return
	case !equalSecret(q.Get("state"), pl.State):
		refuse(http.StatusBadRequest, "the sign-in's state does not match: start again", nil)
		return
	}
	oc, provider, err := c.oidc.setup(r.Context())
	if err != nil {
		refuse(http.StatusServiceUnavailable, "the identity provider cannot be reached; try again later", err)
		return
	}
	tok, err := oc.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(pl.Verifier))
	if err != nil {
		refuse(http.StatusBadGateway, "the identity provider did not accept the sign-in's code", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		refuse(http.StatusBadGateway, "the identity provider sent no ID token", nil)
		return
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.oidc.cfg.ClientID}).Verify(r.Context(), raw)
	if err != nil {
		refuse(http.StatusForbidden, "the ID token does not verify", err)
		return
	}
	if !equalSecret(idt.Nonce, pl.Nonce) {
		refuse(http.StatusForbidden, "the ID token's nonce does not match this sign-in", nil)
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusForbidden, "the ID token's claims do not decode", err)
		return
	}
	if _, ok := claims[c.oidc.cfg.Claim]; !ok {
		// Providers may leave profile claims out of the ID token when
		// they issue an access token (the code flow): the userinfo
		// endpoint has them, for the same subject.
		if err := mergeUserInfo(r.Context(), provider, tok, idt.Subject, claims); err != nil {
			refuse(http.StatusBadGateway, "the identity provider's userinfo could not be read", err)
			return
		}
	}
	name, _ := claims[c.oidc.cfg.Claim].(string)
	if name == "" {
		refuse(http.StatusForbidden, fmt.Sprintf("the ID token has no %s claim", c.oidc.cfg.Claim), nil)
		return
	}
	id, err := c.personByUserName(r.Context(), name)
	if err != nil {
		status, _ := admin.ErrorStatus(err)
		if status == http.StatusNotFound || errors.Is(err, errAmbiguous) {
			refuse(http.StatusForbidden, fmt.Sprintf("no one in Tenure is %s (%s): ask an admin", name, c.oidc.cfg.Claim), err)
			return
		}
		refuse(http.StatusInternalServerError, "the person could not be looked up", err)
		return
	}
	roles := rolesOf(c.roles, id, claims)
	if len(roles) == 0 {
		refuse(http.StatusForbidden, "you have no role in the console: ask an admin", nil)
		return
	}
	s := &session{Person: id.Record.ID, Name: name, Claims: claims}
	if err := c.startSession(w, r, s); err != nil {
		refuse(http.StatusInternalServerError, "the session could not be stored", err)
		return
	}
	c.signins.WithLabelValues("oidc", "ok").Inc()
	c.log.Info("console: signed in", "actor", name, "person", s.Person, "roles", roleNames(roles),
		"request_id", httpx.RequestID(r.Context()))
	http.Redirect(w, r, pl.Return, http.StatusSeeOther)
}

// mergeUserInfo adds the userinfo endpoint's claims to claims, which keep
// their own (the ID token's) where both have one. The userinfo must be
// about subject.
func mergeUserInfo(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, subject string, claims map[string]any) error {
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return err
	}
	if ui.Subject != subject {
		return fmt.Errorf("userinfo is about %q, the ID token about %q", ui.Subject, subject)
	}
	more := map[string]any{}
	if err := ui.Claims(&more); err != nil {
		return err
	}
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

var errAmbiguous = errors.New("console: more than one person has that userName")

// personByUserName finds the person whose SCIM user has the userName, in
// any source (case-insensitively, as SCIM compares it); a name two
// sources both hold names no one.
func (c *Console) personByUserName(ctx context.Context, name string) (*admin.Identity, error) {
	var ids []string
	err := c.st.View(ctx, func(r store.Reader) error {
		for _, src := range c.sources {
			found, err := r.LookupName(store.KindUser, src, name)
			if err != nil {
				return err
			}
			ids = append(ids, found...)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(ids) == 0:
		return nil, fmt.Errorf("console: %w: %s", store.ErrNotFound, name)
	case len(ids) > 1:
		return nil, errAmbiguous
	}
	return c.adm.Identity(ctx, ids[0])
}

func roleNames(rs map[Role]bool) string {
	var out []string
	for _, r := range []Role{RoleAdmin, RoleApprover, RoleAuditor} {
		if rs[r] {
			out = append(out, string(r))
		}
	}
	return strings.Join(out, ",")
}

// POST /breakglass: sign in with the admin token, as an admin who is no
// person, when break-glass is on. The form has no session yet, so the
// origin check (every POST's) stands in for its CSRF token; the token
// itself is the proof.
func (c *Console) breakGlassSignin(w http.ResponseWriter, r *http.Request, _ *user) {
	if c.breakGlass == "" {
		c.fail(w, r, nil, http.StatusNotFound, errors.New("break-glass sign-in is off"))
		return
	}
	if !equalSecret(r.PostFormValue("token"), c.breakGlass) {
		c.signins.WithLabelValues("break-glass", "refused").Inc()
		c.log.Warn("console: break-glass sign-in refused", "request_id", httpx.RequestID(r.Context()))
		c.fail(w, r, nil, http.StatusForbidden, errors.New("that is not the admin token"))
		return
	}
	if err := c.startSession(w, r, &session{Name: "break-glass", BreakGlass: true}); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, err)
		return
	}
	c.signins.WithLabelValues("break-glass", "ok").Inc()
	c.log.Warn("console: break-glass sign-in", "actor", "break-glass", "request_id", httpx.RequestID(r.Context()))
	http.Redirect(w, r, c.path+"/", http.StatusSeeOther)
}

// POST /logout: the session is deleted, not only its cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, u *user) {
	if err := deleteDoc(r.Context(), c.st, u.key); err != nil {
		c.fail(w, r, u, http.StatusInternalServerError, err)
		return
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	c.log.Info("console: signed out", "actor", u.s.Name, "request_id", httpx.RequestID(r.Context()))
	http.Redirect(w, r, c.path+"/signin", http.StatusSeeOther)
}

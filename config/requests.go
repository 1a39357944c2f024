package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// Requests is the policy for access that rules alone cannot decide (see
// docs/requests.md): the catalog of requestable entitlements, the mover
// review, and the channels that tell people what waits for them.
type Requests struct {
	// Catalog lists what may be requested, per target.
	Catalog []CatalogItem `yaml:"catalog"`
	// Review is the mover review of requested access.
	Review Review `yaml:"review"`
	// Channels deliver notifications (new requests, reminders, decisions).
	Channels Channels `yaml:"channels"`
	// AdminDecisions lets the admin API's token approve, deny and decide
	// review items on behalf of the person it names (channel admin-api).
	// Nothing proves the caller is that person, so an organisation that
	// wants every vote proven (the console's sign-in, Slack, an email
	// link) sets it to false. Default true.
	AdminDecisions *bool `yaml:"admin_decisions"`
}

// CatalogItem is one requestable entitlement set on one target.
type CatalogItem struct {
	// Name identifies the item in requests, plans and metrics.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Target names the target the entitlements are on.
	Target string `yaml:"target"`
	// Entitlements are granted together (group names or DNs in the
	// target's terms, as birthright grants name them).
	Entitlements []string `yaml:"entitlements"`
	// Allow is a CEL bool over requester and subject: who may ask for
	// whom. Default: the subject themselves or their manager.
	Allow string `yaml:"allow"`
	// Approval is the chain of steps, each decided in turn. Default: one
	// step, the subject's manager.
	Approval []ApprovalStep `yaml:"approval"`
	// Fallback decides for a step whose approvers nobody can be found for
	// (no manager), and for any step once the request is escalated.
	Fallback string `yaml:"fallback"`
	// MaxDuration bounds the grant (0: until withdrawn or a leaver).
	MaxDuration time.Duration `yaml:"max_duration"`
	// ReminderAfter reminds the current step's approvers this long after
	// the step began, and again every as long. Default 24h; 0s: never.
	ReminderAfter *time.Duration `yaml:"reminder_after"`
	// EscalateAfter hands the current step to the fallback as well this
	// long after it began. Default 72h with a fallback, else never.
	EscalateAfter *time.Duration `yaml:"escalate_after"`
	// ExpireAfter closes an undecided request as expired this long after
	// it was made. Default 168h.
	ExpireAfter time.Duration `yaml:"expire_after"`
}

// ApprovalStep is one step of an approval chain.
type ApprovalStep struct {
	// Mode is "any" (default: one approval of any approver decides) or
	// "all" (each approver listed must approve; a group counts as one,
	// decided by any of its members).
	Mode string `yaml:"mode"`
	// Approvers are "manager" (the subject's), "user:<userName>" (a
	// person of the subject's source) or "group:<displayName>" (the
	// members of a SCIM group of that source).
	Approvers []string `yaml:"approvers"`
}

// Review is the mover review: requested access a mover held from the old
// position is listed for the managers to keep or revoke.
type Review struct {
	// Reviewers is new_manager (default), old_manager or both.
	Reviewers string `yaml:"reviewers"`
	// ExpireAfter closes the review this long after the move; each item
	// undecided then takes Default. Default 168h.
	ExpireAfter time.Duration `yaml:"expire_after"`
	// ReminderAfter reminds the reviewers (0: never, the default).
	ReminderAfter time.Duration `yaml:"reminder_after"`
	// Default is what an undecided item becomes: revoke (default) or keep.
	Default string `yaml:"default"`
}

// Channels are where notifications go; each set channel gets every one.
type Channels struct {
	Webhook *Webhook      `yaml:"webhook"`
	Slack   *SlackChannel `yaml:"slack"`
	Email   *EmailChannel `yaml:"email"`
}

// SlackChannel posts to Slack with Approve/Deny buttons; decisions come
// back on /slack/interactions, signed with the app's signing secret.
type SlackChannel struct {
	// Token is the bot token (chat:write, users:read, users:read.email).
	Token         Secret `yaml:"token"`
	SigningSecret Secret `yaml:"signing_secret"`
	// Channel is a channel id to post in; empty: direct messages.
	Channel string `yaml:"channel"`
	// APIURL is the Web API's base URL (default Slack's).
	APIURL  string        `yaml:"api_url"`
	Timeout time.Duration `yaml:"timeout"`
}

// EmailChannel mails over SMTP (STARTTLS required), each decision a
// signed one-time link served on /decide/.
type EmailChannel struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	From     string `yaml:"from"`
	// CAFile trusts a private CA for the server's certificate.
	CAFile string `yaml:"ca_file"`
	// LinkBaseURL is Tenure's public URL the links start with.
	LinkBaseURL  string        `yaml:"link_base_url"`
	LinkSecret   Secret        `yaml:"link_secret"`
	LinkLifetime time.Duration `yaml:"link_lifetime"`
	Timeout      time.Duration `yaml:"timeout"`
}

// Webhook posts each notification as JSON, signed with HMAC-SHA256.
type Webhook struct {
	URL     string        `yaml:"url"`
	Secret  Secret        `yaml:"secret"`
	Timeout time.Duration `yaml:"timeout"`
}

// Request policy values and defaults.
const (
	ApproveAny          = "any"
	ApproveAll          = "all"
	ApproverManager     = "manager"
	ReviewNewManager    = "new_manager"
	ReviewOldManager    = "old_manager"
	ReviewBoth          = "both"
	ReviewRevoke        = "revoke"
	ReviewKeep          = "keep"
	DefaultRequestAllow = "requester.person == subject.person || requester.person == subject.manager"
	defaultReminder     = 24 * time.Hour
	defaultEscalate     = 72 * time.Hour
	defaultExpire       = 168 * time.Hour
	defaultWebhookWait  = 10 * time.Second
	defaultSlackAPI     = "https://slack.com/api/"
	defaultSMTPPort     = 587
	defaultLinkLifetime = 72 * time.Hour
	defaultSMTPWait     = 30 * time.Second
)

// ReservedTargetNames are queue key prefixes of the engine's own work
// (requests/<id>, reviews/<id>, notify/<id>), so no target may take them.
var ReservedTargetNames = []string{"requests", "reviews", "notify"}

func (c *Config) applyRequestDefaults() {
	r := &c.Requests
	if r.AdminDecisions == nil {
		yes := true
		r.AdminDecisions = &yes
	}
	for i := range r.Catalog {
		it := &r.Catalog[i]
		def(&it.Allow, DefaultRequestAllow)
		if len(it.Approval) == 0 {
			it.Approval = []ApprovalStep{{Approvers: []string{ApproverManager}}}
		}
		for j := range it.Approval {
			def(&it.Approval[j].Mode, ApproveAny)
		}
		if it.ReminderAfter == nil {
			d := defaultReminder
			it.ReminderAfter = &d
		}
		if it.EscalateAfter == nil {
			var d time.Duration
			if it.Fallback != "" {
				d = defaultEscalate
			}
			it.EscalateAfter = &d
		}
		def(&it.ExpireAfter, defaultExpire)
	}
	def(&r.Review.Reviewers, ReviewNewManager)
	def(&r.Review.ExpireAfter, defaultExpire)
	def(&r.Review.Default, ReviewRevoke)
	if w := r.Channels.Webhook; w != nil {
		def(&w.Timeout, defaultWebhookWait)
	}
	if sl := r.Channels.Slack; sl != nil {
		def(&sl.APIURL, defaultSlackAPI)
		def(&sl.Timeout, defaultWebhookWait)
	}
	if em := r.Channels.Email; em != nil {
		def(&em.Port, defaultSMTPPort)
		def(&em.LinkLifetime, defaultLinkLifetime)
		def(&em.Timeout, defaultSMTPWait)
	}
}

// ParseApprover splits an approver reference into its kind ("manager",
// "user", "group") and name; ok is false for anything else.
func ParseApprover(ref string) (kind, name string, ok bool) {
	if ref == ApproverManager {
		return ApproverManager, "", true
	}
	kind, name, found := strings.Cut(ref, ":")
	if !found || strings.TrimSpace(name) == "" || (kind != "user" && kind != "group") {
		return "", "", false
	}
	return kind, name, true
}

func (c *Config) validateRequests(add addFunc) {
	targets := map[string]bool{}
	for i, t := range c.Targets {
		targets[t.Name] = true
		for _, r := range ReservedTargetNames {
			if t.Name == r {
				add(fmt.Sprintf("targets[%d].name", i), "%q is reserved for the engine's own work (%s)", t.Name, strings.Join(ReservedTargetNames, ", "))
			}
		}
	}
	approver := func(path, ref string) {
		if _, _, ok := ParseApprover(ref); !ok {
			add(path, "want manager, user:<userName> or group:<displayName>, got %q", ref)
		}
	}
	r := c.Requests
	names := map[string]int{}
	for i, it := range r.Catalog {
		path := fmt.Sprintf("requests.catalog[%d]", i)
		if !targetName.MatchString(it.Name) {
			add(path+".name", "want %s, got %q", nameRule, it.Name)
		}
		if j, dup := names[it.Name]; dup {
			add(path+".name", "duplicate of requests.catalog[%d]", j)
		}
		names[it.Name] = i
		switch {
		case it.Target == "":
			add(path+".target", "required")
		case !targets[it.Target]:
			add(path+".target", "no such target %q", it.Target)
		}
		if len(it.Entitlements) == 0 {
			add(path+".entitlements", "required")
		}
		for j, e := range it.Entitlements {
			if strings.TrimSpace(e) == "" {
				add(fmt.Sprintf("%s.entitlements[%d]", path, j), "empty")
			}
		}
		for j, s := range it.Approval {
			sp := fmt.Sprintf("%s.approval[%d]", path, j)
			if s.Mode != ApproveAny && s.Mode != ApproveAll {
				add(sp+".mode", "must be %s or %s, got %q", ApproveAny, ApproveAll, s.Mode)
			}
			if len(s.Approvers) == 0 {
				add(sp+".approvers", "required")
			}
			for k, a := range s.Approvers {
				approver(fmt.Sprintf("%s.approvers[%d]", sp, k), a)
			}
		}
		if it.Fallback != "" {
			approver(path+".fallback", it.Fallback)
		}
		if it.MaxDuration < 0 {
			add(path+".max_duration", "must not be negative (0: no end)")
		}
		if it.ExpireAfter <= 0 {
			add(path+".expire_after", "must be positive")
		}
		if d := it.ReminderAfter; d != nil {
			switch {
			case *d < 0:
				add(path+".reminder_after", "must not be negative (0s: no reminders)")
			case *d > 0 && *d >= it.ExpireAfter:
				add(path+".reminder_after", "%s is not before expire_after %s: no reminder would be sent", *d, it.ExpireAfter)
			}
		}
		if d := it.EscalateAfter; d != nil {
			switch {
			case *d < 0:
				add(path+".escalate_after", "must not be negative (0s: never)")
			case *d > 0 && it.Fallback == "":
				add(path+".escalate_after", "set, but there is no fallback to escalate to")
			case *d > 0 && *d >= it.ExpireAfter:
				add(path+".escalate_after", "%s is not before expire_after %s: the request would expire first", *d, it.ExpireAfter)
			}
		}
	}
	v := r.Review
	switch v.Reviewers {
	case ReviewNewManager, ReviewOldManager, ReviewBoth:
	default:
		add("requests.review.reviewers", "must be %s, %s or %s, got %q", ReviewNewManager, ReviewOldManager, ReviewBoth, v.Reviewers)
	}
	switch v.Default {
	case ReviewRevoke, ReviewKeep:
	default:
		add("requests.review.default", "must be %s or %s, got %q", ReviewRevoke, ReviewKeep, v.Default)
	}
	if v.ExpireAfter <= 0 {
		add("requests.review.expire_after", "must be positive")
	}
	if v.ReminderAfter < 0 || (v.ReminderAfter > 0 && v.ReminderAfter >= v.ExpireAfter) {
		add("requests.review.reminder_after", "must be 0s (never) or positive and before expire_after")
	}
	if w := r.Channels.Webhook; w != nil {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("requests.channels.webhook.url", "must be an absolute http(s) URL, got %q", w.URL)
		}
		if err := c.Requests.Channels.Webhook.Secret.resolve(); err != nil {
			add("requests.channels.webhook.secret", "%v", err)
		}
		if w.Timeout <= 0 {
			add("requests.channels.webhook.timeout", "must be positive")
		}
	}
	c.validateSlackEmail(add)
}

// httpURL reports whether s is an absolute http(s) URL.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c *Config) validateSlackEmail(add addFunc) {
	secret := func(path string, s *Secret) {
		if !s.IsSet() {
			add(path, "required (env or file)")
		} else if err := s.resolve(); err != nil {
			add(path, "%v", err)
		}
	}
	if sl := c.Requests.Channels.Slack; sl != nil {
		const p = "requests.channels.slack"
		secret(p+".token", &sl.Token)
		secret(p+".signing_secret", &sl.SigningSecret)
		if !httpURL(sl.APIURL) {
			add(p+".api_url", "must be an absolute http(s) URL, got %q", sl.APIURL)
		}
		if sl.Timeout <= 0 {
			add(p+".timeout", "must be positive")
		}
	}
	if em := c.Requests.Channels.Email; em != nil {
		const p = "requests.channels.email"
		if em.Host == "" {
			add(p+".host", "required")
		}
		if em.Port <= 0 || em.Port > 65535 {
			add(p+".port", "must be a port number, got %d", em.Port)
		}
		if em.Username != "" {
			secret(p+".password", &em.Password)
		}
		if a, err := mail.ParseAddress(em.From); err != nil || a.Address == "" {
			add(p+".from", "must be an email address, got %q", em.From)
		}
		if !httpURL(em.LinkBaseURL) {
			add(p+".link_base_url", "must be Tenure's absolute http(s) URL, got %q", em.LinkBaseURL)
		}
		secret(p+".link_secret", &em.LinkSecret)
		if em.LinkLifetime <= 0 {
			add(p+".link_lifetime", "must be positive")
		}
		if em.Timeout <= 0 {
			add(p+".timeout", "must be positive")
		}
	}
}

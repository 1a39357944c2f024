package ldapsync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

func TestClassifyResultCodes(t *testing.T) {
	for _, tc := range []struct {
		code      uint16
		permanent bool
		conn      bool // Pool.Do retries once on a new connection
	}{
		{ldap.LDAPResultOperationsError, false, false},
		{ldap.LDAPResultProtocolError, true, false},
		{ldap.LDAPResultTimeLimitExceeded, false, false},
		{ldap.LDAPResultSizeLimitExceeded, true, false},
		{ldap.LDAPResultAuthMethodNotSupported, true, false},
		{ldap.LDAPResultStrongAuthRequired, true, false},
		{ldap.LDAPResultReferral, true, false},
		{ldap.LDAPResultAdminLimitExceeded, false, false},
		{ldap.LDAPResultUnavailableCriticalExtension, true, false},
		{ldap.LDAPResultConfidentialityRequired, true, false},
		{ldap.LDAPResultNoSuchAttribute, true, false},
		{ldap.LDAPResultUndefinedAttributeType, true, false},
		{ldap.LDAPResultInappropriateMatching, true, false},
		{ldap.LDAPResultConstraintViolation, true, false},
		{ldap.LDAPResultAttributeOrValueExists, true, false},
		{ldap.LDAPResultInvalidAttributeSyntax, true, false},
		{ldap.LDAPResultNoSuchObject, true, false},
		{ldap.LDAPResultInvalidDNSyntax, true, false},
		{ldap.LDAPResultInappropriateAuthentication, true, false},
		{ldap.LDAPResultInvalidCredentials, true, false},
		{ldap.LDAPResultInsufficientAccessRights, true, false},
		{ldap.LDAPResultBusy, false, true},
		{ldap.LDAPResultUnavailable, false, true},
		{ldap.LDAPResultUnwillingToPerform, true, false},
		{ldap.LDAPResultLoopDetect, true, false},
		{ldap.LDAPResultNamingViolation, true, false},
		{ldap.LDAPResultObjectClassViolation, true, false},
		{ldap.LDAPResultNotAllowedOnNonLeaf, true, false},
		{ldap.LDAPResultNotAllowedOnRDN, true, false},
		{ldap.LDAPResultEntryAlreadyExists, true, false},
		{ldap.LDAPResultObjectClassModsProhibited, true, false},
		{ldap.LDAPResultAffectsMultipleDSAs, true, false},
		{ldap.LDAPResultOther, false, false},
		{ldap.LDAPResultServerDown, false, true},
		{ldap.LDAPResultTimeout, false, false},
		{ldap.LDAPResultFilterError, true, false},
		{ldap.LDAPResultParamError, true, false},
		{ldap.LDAPResultConnectError, false, true},
		{ldap.LDAPResultNotSupported, true, false},
		{ldap.LDAPResultControlNotFound, true, false},
		{ldap.LDAPResultSyncRefreshRequired, false, false}, // unlisted: retryable
		{ldap.ErrorNetwork, false, true},
		{ldap.ErrorFilterCompile, true, false},
		{ldap.ErrorEmptyPassword, true, false},
	} {
		name := ldap.LDAPResultCodeMap[tc.code]
		diag := fmt.Sprintf("diagnostic for %d", tc.code)
		err := Classify("ldap add", &ldap.Error{ResultCode: tc.code, Err: errors.New(diag)})
		if got := !targets.IsRetryable(err); got != tc.permanent {
			t.Errorf("%d %s: permanent = %v, want %v", tc.code, name, got, tc.permanent)
		}
		if !strings.Contains(err.Error(), diag) || !strings.HasPrefix(err.Error(), "ldap add: ") {
			t.Errorf("%d %s: error %q lost the op or the server's message", tc.code, name, err)
		}
		if !ldap.IsErrorWithCode(err, tc.code) {
			t.Errorf("%d %s: the *ldap.Error is no longer reachable through %q", tc.code, name, err)
		}
		if got := connectionError(err); got != tc.conn {
			t.Errorf("%d %s: connection error = %v, want %v", tc.code, name, got, tc.conn)
		}
		// The server could not be reached (or is going away): the
		// engine counts unavailability, not an operation error.
		if got := errors.Is(err, targets.ErrUnavailable); got != tc.conn {
			t.Errorf("%d %s: unavailable = %v, want %v", tc.code, name, got, tc.conn)
		}
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		conn      bool
	}{
		{"refused", refused, false, true},
		{"reset", fmt.Errorf("write: %w", syscall.ECONNRESET), false, true},
		{"eof", io.EOF, false, true},
		{"closed", net.ErrClosed, false, true},
		{"deadline", context.DeadlineExceeded, false, false},
		{"canceled", context.Canceled, false, false},
		{"canceled during a search", fmt.Errorf("%w (%w)", context.Canceled, ldap.NewError(ldap.ErrorNetwork, errors.New("x"))), false, false},
		{"unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), true, false},
		{"wrong host", x509.HostnameError{Host: "x", Certificate: &x509.Certificate{}}, true, false},
		{"client size limit", ldap.ErrSizeLimitExceeded, true, false},
		{"unknown", errors.New("something"), false, false},
		{"already classified", targets.Permanent("ldap modify", errors.New("x")), true, false},
	} {
		err := Classify("ldap search", tc.err)
		if got := !targets.IsRetryable(err); got != tc.permanent {
			t.Errorf("%s: permanent = %v, want %v", tc.name, got, tc.permanent)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.err)
		}
		if got := connectionError(tc.err); got != tc.conn {
			t.Errorf("%s: connection error = %v, want %v", tc.name, got, tc.conn)
		}
	}
	if Classify("x", nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
	already := targets.Retryable("ldap bind", errors.New("x"), 0)
	if Classify("ldap add", already) != already {
		t.Error("Classify rewrapped a classified error")
	}
	if err := Classify("ldap add", context.Canceled); !errors.Is(err, context.Canceled) || !errors.Is(err, targets.ErrRetryable) {
		t.Errorf("cancellation classified as %v", err)
	}
}

package ldapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/go-ldap/ldap/v3"

	"github.com/tenurehq/tenure/targets"
)

// Result codes by class. Codes in neither list are retryable: the targets
// contract treats unclassified failures as retryable, because losing a
// change is worse than trying it again.
//
// Retryable — the same request may succeed later, unchanged:
//   - timeLimitExceeded (3), adminLimitExceeded (11), busy (51),
//     unavailable (52), serverDown (81), timeout (85), connectError (91):
//     load, restarts and failovers.
//   - go-ldap's ErrorNetwork (200): connection lost, closed or timed out.
//   - other (80), operationsError (1) and codes not listed: unknown, so
//     retried, per the contract. AD answers operationsError when a
//     connection lost its bind, which a new connection fixes.
//
// Permanent — the request fails again until someone changes data,
// schema, ACLs or configuration:
//   - the entry's data: noSuchAttribute (16), undefinedAttributeType (17),
//     inappropriateMatching (18), constraintViolation (19),
//     attributeOrValueExists (20), invalidAttributeSyntax (21),
//     noSuchObject (32, e.g. a missing parent OU), invalidDNSyntax (34),
//     namingViolation (64), objectClassViolation (65),
//     notAllowedOnNonLeaf (66), notAllowedOnRDN (67),
//     entryAlreadyExists (68), objectClassModsProhibited (69),
//     affectsMultipleDSAs (71), isLeaf (35), aliasProblem (33),
//     aliasDereferencingProblem (36), loopDetect (54).
//     (Converge treats 16/20/32/68 as success or as "link it" where that
//     is what they mean; the ones that reach here are real failures.)
//   - credentials and rights: invalidCredentials (49),
//     insufficientAccessRights (50), inappropriateAuthentication (48),
//     authMethodNotSupported (7), strongAuthRequired (8),
//     confidentialityRequired (13): the bind account, its password or the
//     TLS settings need fixing.
//   - unwillingToPerform (53): permanent. Directories use it for policy
//     refusals, not load: AD for a unicodePwd that fails the password
//     policy or is sent over an unencrypted connection, for changes to
//     system-protected objects and on read-only DCs; OpenLDAP for writes
//     to a read-only or shadow database and missing superior knowledge.
//     None of these fixes itself, and retrying a password-policy failure
//     forever hides it; the dead letter carries the server's message.
//     Load shedding uses busy (51) and unavailable (52).
//   - the request itself: protocolError (2), sizeLimitExceeded (4),
//     referral (10; referrals are not chased), unavailableCriticalExtension
//     (12), filterError (87), paramError (89), notSupported (92),
//     controlNotFound (93), and go-ldap's filter compile/decompile errors,
//     empty password, and its client-side size limit.
//
// Context: a deadline that passed is retryable (the server was slow).
// Cancellation is retryable too: it means Tenure is shutting down or gave
// up waiting, never that the change is wrong, and a permanent class would
// dead-letter it. errors.Is(err, context.Canceled) still tells the caller.
//
// Transport: network errors (net.Error, connection refused or reset, EOF)
// are retryable; a TLS certificate the CA file does not verify, or one for
// the wrong name, is permanent (configuration).
var (
	retryableCodes = codeSet(
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded,
		ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultConnectError, ldap.ErrorNetwork,
		ldap.LDAPResultOther, ldap.LDAPResultOperationsError,
	)
	permanentCodes = codeSet(
		ldap.LDAPResultProtocolError, ldap.LDAPResultSizeLimitExceeded,
		ldap.LDAPResultAuthMethodNotSupported, ldap.LDAPResultStrongAuthRequired,
		ldap.LDAPResultReferral, ldap.LDAPResultUnavailableCriticalExtension,
		ldap.LDAPResultConfidentialityRequired,
		ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultUndefinedAttributeType,
		ldap.LDAPResultInappropriateMatching, ldap.LDAPResultConstraintViolation,
		ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultInvalidAttributeSyntax,
		ldap.LDAPResultNoSuchObject, ldap.LDAPResultAliasProblem,
		ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultIsLeaf,
		ldap.LDAPResultAliasDereferencingProblem,
		ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultLoopDetect, ldap.LDAPResultNamingViolation,
		ldap.LDAPResultObjectClassViolation, ldap.LDAPResultNotAllowedOnNonLeaf,
		ldap.LDAPResultNotAllowedOnRDN, ldap.LDAPResultEntryAlreadyExists,
		ldap.LDAPResultObjectClassModsProhibited, ldap.LDAPResultAffectsMultipleDSAs,
		ldap.LDAPResultFilterError, ldap.LDAPResultParamError,
		ldap.LDAPResultNotSupported, ldap.LDAPResultControlNotFound,
		ldap.ErrorFilterCompile, ldap.ErrorFilterDecompile, ldap.ErrorEmptyPassword,
	)
	// connCodes are the retryable codes after which the connection is not
	// reused and Pool.Do tries once more on a new one.
	connCodes = codeSet(
		ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultConnectError,
		ldap.LDAPResultUnavailable, ldap.LDAPResultBusy,
	)
)

func codeSet(codes ...uint16) map[uint16]bool {
	m := make(map[uint16]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// Classify wraps err as targets.Retryable or targets.Permanent for op
// ("ldap add", "ldap search"), per the table above. The error text keeps
// the server's result code and diagnostic message; errors.As still finds
// the *ldap.Error. A nil err stays nil and an already classified
// *targets.Error is returned as is.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*targets.Error](err); ok {
		return err
	}
	if le, ok := errors.AsType[*ldap.Error](err); ok && le.MatchedDN != "" {
		// For noSuchObject, the deepest entry that does exist.
		err = fmt.Errorf("%w (matched DN %q)", err, le.MatchedDN)
	}
	if permanent(err) {
		return targets.Permanent(op, err)
	}
	if connectionError(err) {
		return targets.Unavailable(op, err, 0)
	}
	return targets.Retryable(op, err, 0)
}

func permanent(err error) bool {
	// Before the result code: go-ldap files its client-side size limit
	// under ErrorNetwork.
	if errors.Is(err, ldap.ErrSizeLimitExceeded) {
		return true
	}
	if le, ok := errors.AsType[*ldap.Error](err); ok {
		if permanentCodes[le.ResultCode] {
			return true
		}
		if retryableCodes[le.ResultCode] {
			return false
		}
	}
	return badCertificate(err)
}

// badCertificate reports whether err is a TLS verification failure: the
// CA file, server name or client certificate is wrong.
func badCertificate(err error) bool {
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	return false
}

// connectionError reports whether err means the connection it happened
// on is broken or the server is going away: Pool.Do discards the
// connection and may try again on a new one. Cancellation and deadlines
// are not: there is no time left to try again.
func connectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ldap.ErrSizeLimitExceeded) {
		return false
	}
	if le, ok := errors.AsType[*ldap.Error](err); ok {
		return connCodes[le.ResultCode]
	}
	if badCertificate(err) {
		return false
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}

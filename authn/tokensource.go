package authn

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// TokenSource supplies access tokens. Unlike [oauth2.TokenSource] it takes a
// context, so that a token fetch triggered by an API call is cancelled and
// traced with that call (golang/oauth2#262).
type TokenSource interface {
	Token(ctx context.Context) (*oauth2.Token, error)
}

// TokenSourceFunc adapts a function to [TokenSource].
type TokenSourceFunc func(ctx context.Context) (*oauth2.Token, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }

// ClientType names one of PKB's four OAuth client types. Which APIs accept a
// token depends on it, so the API wrappers check it before sending anything.
type ClientType string

// The PKB client types (docs/pkb-api.md §3.1).
const (
	ClientUser     ClientType = "user"
	ClientSystem   ClientType = "system"
	ClientCustomer ClientType = "customer"
	ClientTethered ClientType = "tethered"
)

// PKB scope values. User Clients request one of the first three; Tethered
// clients always use SITE, which covers CLINICIAN and TEAMCOORD operations.
const (
	ScopePatient   = "PATIENT"
	ScopeClinician = "CLINICIAN"
	ScopeTeamCoord = "TEAMCOORD"
	ScopeSite      = "SITE"
)

// Source is what every constructor in this package returns and what the API
// wrappers consume.
type Source interface {
	TokenSource
	// Invalidate drops the cached token if it is still accessToken, so that
	// the next Token call fetches a new one. Callers do this after a 401;
	// because only the token that failed is dropped, a burst of 401s for the
	// same token causes one refresh, not one per request. It reports whether
	// anything was dropped.
	Invalidate(accessToken string) bool
	// Grant reports the client type and the scopes the client currently
	// holds: the granted scopes of the cached token if there is one,
	// otherwise the configured ones. It never performs I/O, so it can gate
	// requests before a token is fetched.
	Grant() (ClientType, []string)
	// Environment returns the PKB environment of the source's
	// configuration. The API clients take their base URLs from it, so that
	// a token is only ever sent to the deployment that issued it.
	Environment() Environment
}

// FromOAuth2 adapts an x/oauth2 token source. The context cannot reach
// ts, so it is only checked before the call; prefer this package's clients,
// which pass it through.
func FromOAuth2(ts oauth2.TokenSource) TokenSource {
	return TokenSourceFunc(func(ctx context.Context) (*oauth2.Token, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return ts.Token()
	})
}

// ToOAuth2 adapts ts for APIs that want an [oauth2.TokenSource], such as
// [oauth2.NewClient]. Every fetch uses ctx, so pass a long-lived context
// (not a request's): once ctx is cancelled the adapter stops working.
func ToOAuth2(ctx context.Context, ts TokenSource) oauth2.TokenSource {
	return oauth2Adapter{ctx: ctx, ts: ts}
}

type oauth2Adapter struct {
	ctx context.Context
	ts  TokenSource
}

func (a oauth2Adapter) Token() (*oauth2.Token, error) { return a.ts.Token(a.ctx) }

// GrantedScopes returns the scopes the token endpoint granted, from the
// space-separated "scope" member of the token response. The server may grant
// less than was requested (RFC 6749 §3.3), so this, not the request, is what
// the token can do. It returns nil if the response had no scope.
func GrantedScopes(tok *oauth2.Token) []string {
	if tok == nil {
		return nil
	}
	s, _ := tok.Extra("scope").(string)
	if f := strings.Fields(s); len(f) > 0 {
		return f
	}
	return nil
}

// maxTokenLifetime caps the lifetime a token endpoint may claim. PKB's
// tokens live 300 to 3600 s; a claim of days is an error or an attack, and
// one of 9.3e9 s or more would overflow time.Duration and make the token look
// expired at once (refetched on every call). A capped token is simply
// replaced sooner than its claim.
const maxTokenLifetime = 24 * time.Hour

// lifetime reads an expires_in value leniently: a JSON number or a numeric
// string, fractions allowed, any magnitude (capped at maxTokenLifetime).
// Anything else, and a lifetime that is not positive, is unknown (false):
// RFC 6749 makes expires_in optional, and refusing a token over it would,
// after a refresh, lose the only copy of the new refresh token.
func lifetime(v any) (time.Duration, bool) {
	var secs float64
	switch v := v.(type) {
	case float64:
		secs = v
	case int64:
		secs = float64(v)
	case int:
		secs = float64(v)
	case json.Number:
		return lifetime(string(v))
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		secs = f // ±Inf or 0 on a range error
	default:
		return 0, false
	}
	if !(secs > 0) { // also NaN
		return 0, false
	}
	if secs >= maxTokenLifetime.Seconds() {
		return maxTokenLifetime, true
	}
	return time.Duration(secs * float64(time.Second)), true
}

// stampExpiry sets Expiry from the lifetime the response granted, against
// the injected clock, measured from when the request started so that
// network latency makes the token look shorter-lived, never longer. An
// unknown lifetime leaves Expiry zero: the token is used until a caller
// reports it refused. x/oauth2's own Expiry is always replaced: it is
// computed from the real clock and overflows on large values.
func stampExpiry(tok *oauth2.Token, start time.Time, d time.Duration, ok bool) *oauth2.Token {
	tok.Expiry, tok.ExpiresIn = time.Time{}, 0
	if ok {
		tok.Expiry = start.Add(d)
		tok.ExpiresIn = int64(d / time.Second)
	}
	return tok
}

func cloneToken(t *oauth2.Token) *oauth2.Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

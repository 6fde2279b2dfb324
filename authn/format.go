package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// Every type here that holds a client secret, a refresh or access token or a
// PKCE verifier formats itself with the secret replaced by [REDACTED], for
// every fmt verb (a struct printed with %x or %d would otherwise spell its
// string fields out) and for log/slog. fmt cannot call methods through
// unexported fields, so a caller who keeps a config in an unexported field
// of their own struct and prints that struct is not covered, and neither
// is %p given a non-pointer, which fmt prints raw past every method (go vet
// reports that call).

// mask hides a secret but still shows whether it is set.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return redact.Marker
}

// formatView prints view, a redacted copy of a value, with the verb and
// flags the caller used; %#v names the original type.
func formatView(f fmt.State, verb rune, name string, view any) {
	if verb == 'v' && f.Flag('#') {
		s := fmt.Sprintf("%#v", view)
		if i := strings.IndexByte(s, '{'); i >= 0 {
			s = name + s[i:]
		}
		io.WriteString(f, s)
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), view)
}

// jsonView encodes a redacted log value as a JSON object, so that
// encoding/json (and slog's JSON handler, for a config inside a caller's
// struct) never writes the secret either.
func jsonView(v slog.Value) ([]byte, error) {
	m := map[string]any{}
	for _, a := range v.Group() {
		m[a.Key] = a.Value.Any()
	}
	return json.Marshal(m)
}

type (
	systemConfigView   SystemConfig
	customerConfigView CustomerConfig
	tetheredConfigView TetheredConfig
	userConfigView     UserConfig
)

func (c SystemConfig) view() systemConfigView {
	v := systemConfigView(c)
	v.ClientSecret = mask(v.ClientSecret)
	return v
}

// Format prints the configuration with the client secret redacted, for
// every verb.
func (c SystemConfig) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.SystemConfig", c.view())
}

// String returns the configuration with the client secret redacted.
func (c SystemConfig) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString is String for %#v.
func (c SystemConfig) GoString() string { return fmt.Sprintf("%#v", c) }

// LogValue logs the client ID and token URL, never the secret.
func (c SystemConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_type", string(ClientSystem)),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", mask(c.ClientSecret)),
		slog.String("environment", c.Environment.Name),
		slog.String("token_url", c.Environment.SystemTokenURL),
	)
}

// MarshalJSON writes what LogValue logs: a configuration is never
// serialised with its secret.
func (c SystemConfig) MarshalJSON() ([]byte, error) { return jsonView(c.LogValue()) }

func (c CustomerConfig) view() customerConfigView {
	v := customerConfigView(c)
	v.ClientSecret = mask(v.ClientSecret)
	return v
}

// Format prints the configuration with the client secret redacted, for
// every verb.
func (c CustomerConfig) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.CustomerConfig", c.view())
}

// String returns the configuration with the client secret redacted.
func (c CustomerConfig) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString is String for %#v.
func (c CustomerConfig) GoString() string { return fmt.Sprintf("%#v", c) }

// LogValue logs the client ID, scopes and token URL, never the secret.
func (c CustomerConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_type", string(ClientCustomer)),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", mask(c.ClientSecret)),
		slog.String("environment", c.Environment.Name),
		slog.String("token_url", c.Environment.CustomerTokenURL),
		slog.String("scopes", strings.Join(c.Scopes, " ")),
	)
}

// MarshalJSON writes what LogValue logs: a configuration is never
// serialised with its secret.
func (c CustomerConfig) MarshalJSON() ([]byte, error) { return jsonView(c.LogValue()) }

func (c TetheredConfig) view() tetheredConfigView {
	v := tetheredConfigView(c)
	v.ClientSecret = mask(v.ClientSecret)
	v.RefreshToken = mask(v.RefreshToken)
	return v
}

// Format prints the configuration with the client secret and refresh token
// redacted, for every verb.
func (c TetheredConfig) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.TetheredConfig", c.view())
}

// String returns the configuration with the client secret and refresh
// token redacted.
func (c TetheredConfig) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString is String for %#v.
func (c TetheredConfig) GoString() string { return fmt.Sprintf("%#v", c) }

// LogValue logs the client ID and token URL, never the secret or the
// refresh token.
func (c TetheredConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_type", string(ClientTethered)),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", mask(c.ClientSecret)),
		slog.String("refresh_token", mask(c.RefreshToken)),
		slog.String("environment", c.Environment.Name),
		slog.String("token_url", c.Environment.UserTokenURL),
	)
}

// MarshalJSON writes what LogValue logs: a configuration is never
// serialised with its secrets.
func (c TetheredConfig) MarshalJSON() ([]byte, error) { return jsonView(c.LogValue()) }

func (c UserConfig) view() userConfigView {
	v := userConfigView(c)
	v.ClientSecret = mask(v.ClientSecret)
	return v
}

// Format prints the configuration with the client secret redacted, for
// every verb.
func (c UserConfig) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.UserConfig", c.view())
}

// String returns the configuration with the client secret redacted.
func (c UserConfig) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString is String for %#v.
func (c UserConfig) GoString() string { return fmt.Sprintf("%#v", c) }

// LogValue logs the client ID, scope, redirect and token URLs, never the
// secret.
func (c UserConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_type", string(ClientUser)),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", mask(c.ClientSecret)),
		slog.String("scope", c.Scope),
		slog.String("redirect_url", c.RedirectURL),
		slog.String("environment", c.Environment.Name),
		slog.String("token_url", c.Environment.UserTokenURL),
	)
}

// MarshalJSON writes what LogValue logs: a configuration is never
// serialised with its secret.
func (c UserConfig) MarshalJSON() ([]byte, error) { return jsonView(c.LogValue()) }

// clientIdent is what the token sources print about themselves: which
// client they are, never its credentials or tokens.
type clientIdent struct {
	ClientType ClientType
	ClientID   string
	TokenURL   string
}

func (id clientIdent) logValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_type", string(id.ClientType)),
		slog.String("client_id", id.ClientID),
		slog.String("token_url", id.TokenURL),
	)
}

// Format prints the client type, client ID and token URL, for every verb.
func (c SystemSource) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.SystemSource", c.ident)
}

// String returns the client type, client ID and token URL.
func (c SystemSource) String() string { return fmt.Sprintf("%+v", c.ident) }

// LogValue logs the client type, client ID and token URL.
func (c SystemSource) LogValue() slog.Value { return c.ident.logValue() }

// Format prints the client type, client ID and token URL, for every verb.
func (c CustomerSource) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.CustomerSource", c.ident)
}

// String returns the client type, client ID and token URL.
func (c CustomerSource) String() string { return fmt.Sprintf("%+v", c.ident) }

// LogValue logs the client type, client ID and token URL.
func (c CustomerSource) LogValue() slog.Value { return c.ident.logValue() }

// Format prints the client type, client ID and token URL, for every verb.
func (c TetheredSource) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.TetheredSource", c.ident)
}

// String returns the client type, client ID and token URL.
func (c TetheredSource) String() string { return fmt.Sprintf("%+v", c.ident) }

// LogValue logs the client type, client ID and token URL.
func (c TetheredSource) LogValue() slog.Value { return c.ident.logValue() }

func (c UserSource) ident() clientIdent {
	return clientIdent{ClientType: ClientUser, ClientID: c.cfg.ClientID, TokenURL: c.cfg.Environment.UserTokenURL}
}

// Format prints the client type, client ID and token URL, for every verb.
func (c UserSource) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.UserSource", c.ident())
}

// String returns the client type, client ID and token URL.
func (c UserSource) String() string { return fmt.Sprintf("%+v", c.ident()) }

// LogValue logs the client type, client ID and token URL.
func (c UserSource) LogValue() slog.Value { return c.ident().logValue() }

type pendingAuthView PendingAuth

// Format prints the pending authorization with the verifier redacted, for
// every verb.
func (p PendingAuth) Format(f fmt.State, verb rune) {
	v := pendingAuthView(p)
	v.Verifier = mask(v.Verifier)
	formatView(f, verb, "authn.PendingAuth", v)
}

// LogValue logs the state and redirect URL, never the verifier.
func (p PendingAuth) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("state", p.State),
		slog.String("verifier", mask(p.Verifier)),
		slog.String("redirect_url", p.RedirectURL),
	)
}

// tokenView is what a holder of a token prints about it.
type tokenView struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	Expiry       time.Time
}

func viewToken(t *oauth2.Token) tokenView {
	if t == nil {
		return tokenView{}
	}
	return tokenView{AccessToken: mask(t.AccessToken), TokenType: t.TokenType, RefreshToken: mask(t.RefreshToken), Expiry: t.Expiry}
}

func tokenLogValue(t *oauth2.Token) slog.Value {
	if t == nil {
		return slog.GroupValue(slog.Bool("token", false))
	}
	return slog.GroupValue(
		slog.Bool("token", true),
		slog.String("access_token", mask(t.AccessToken)),
		slog.String("refresh_token", mask(t.RefreshToken)),
		slog.Time("expiry", t.Expiry),
	)
}

type holderView struct{ Token tokenView }

// Format prints the stored token with its secrets redacted, for every verb.
func (m *MemoryStore) Format(f fmt.State, verb rune) {
	tok, _ := m.Load(context.Background())
	formatView(f, verb, "authn.MemoryStore", holderView{viewToken(tok)})
}

// LogValue logs whether a token is stored and its expiry.
func (m *MemoryStore) LogValue() slog.Value {
	tok, _ := m.Load(context.Background())
	return tokenLogValue(tok)
}

// Format prints the cached token with its secrets redacted, for every verb.
func (c *Cache) Format(f fmt.State, verb rune) {
	formatView(f, verb, "authn.Cache", holderView{viewToken(c.Cached())})
}

// LogValue logs whether a token is cached and its expiry.
func (c *Cache) LogValue() slog.Value { return tokenLogValue(c.Cached()) }

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
)

const defaultLoginWait = 5 * time.Minute

func (c *cli) cmdLogin(ctx context.Context, args []string) error {
	var cf commonFlags
	var noBrowser bool
	fs := c.newFlagSet("login", "[flags]\n\nLogs in as a User Client: opens PKB's login page, receives the redirect on\n"+
		"http://127.0.0.1:<port>/callback and saves the session to the token store.")
	addCommon(fs, &cf)
	fs.StringVar(&cf.scope, "scope", "", "user type to log in as: PATIENT | CLINICIAN | TEAMCOORD ("+envScope+"; default: any the client allows)")
	fs.BoolVar(&noBrowser, "no-browser", false, "only print the login URL")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if !flagSet(fs, "timeout") {
		cf.timeout = defaultLoginWait
	}
	s, err := c.resolve(&cf)
	if err != nil {
		return err
	}
	if s.clientType != authn.ClientUser {
		return configErrorf("pkb login is for User Clients (%s=user); a %s client gets its tokens without a login", envClientType, s.clientType)
	}
	if s.clientID == "" {
		return missingEnv("client id", envClientID, "client-id")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ucfg := authn.UserConfig{ClientID: s.clientID, ClientSecret: s.secret, Environment: s.env, Scope: s.scope, Options: c.authnOptions()}
	store, err := c.openStore(ctx, s, ucfg.SessionKey(""))
	if err != nil {
		return err
	}
	ucfg.Store = store
	uc, err := authn.NewUserSource(ucfg)
	if err != nil {
		return err
	}
	open := func(u string) error {
		if c.openURL != nil {
			return c.openURL(ctx, u)
		}
		fmt.Fprintf(c.stderr, "Open this URL in a browser to log in to PKB (%s):\n\n  %s\n\nWaiting up to %v for the login to finish...\n", s.envName, u, s.timeout)
		if !noBrowser {
			openBrowser(u)
		}
		return nil
	}
	tok, err := uc.LoginLoopback(ctx, open)
	c.secrets.addToken(tok)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return configErrorf("login not completed within %v (--timeout): %v", s.timeout, err)
		}
		return err
	}
	info := describeToken(authn.ClientUser, tok, authn.GrantedScopes(tok), s, tok.RefreshToken != "")
	if cf.json {
		return writeJSON(c.stdout, info)
	}
	fmt.Fprintf(c.stdout, "Logged in to %s as %s; session saved to %s\n", s.envName, strings.Join(info.Scopes, " "), redactStoreURL(s.tokenStore))
	return nil
}

// flagSet reports whether the named flag was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// openBrowser tries the platform's URL opener; failure is fine, the URL
// has been printed.
func openBrowser(u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

// tokenInfo is what pkb token prints: metadata, and the access token only
// when asked for.
type tokenInfo struct {
	Environment      string    `json:"environment"`
	ClientType       string    `json:"client_type"`
	TokenType        string    `json:"token_type"`
	Scopes           []string  `json:"scopes"`
	Expiry           time.Time `json:"expiry,omitzero"`
	ExpiresInSeconds int64     `json:"expires_in_seconds,omitempty"`
	HasRefreshToken  bool      `json:"has_refresh_token"`
	TokenStore       string    `json:"token_store,omitempty"`
	AccessToken      string    `json:"access_token,omitempty"`
}

func describeToken(ct authn.ClientType, tok *oauth2.Token, scopes []string, s *settings, hasRefresh bool) tokenInfo {
	info := tokenInfo{Environment: s.envName, ClientType: string(ct), TokenType: tok.Type(), Scopes: scopes,
		Expiry: tok.Expiry, HasRefreshToken: hasRefresh}
	if info.Scopes == nil {
		info.Scopes = []string{}
	}
	if !tok.Expiry.IsZero() {
		info.Expiry = tok.Expiry.UTC().Truncate(time.Second)
		info.ExpiresInSeconds = max(0, int64(time.Until(tok.Expiry)/time.Second))
	}
	if ct == authn.ClientUser || ct == authn.ClientTethered {
		info.TokenStore = redactStoreURL(s.tokenStore)
	}
	if s.baseURL != "" {
		info.Environment = s.baseURL
	}
	return info
}

func (c *cli) cmdToken(ctx context.Context, args []string) error {
	var cf commonFlags
	var show bool
	fs := c.newFlagSet("token", "[--show-token] [flags]\n\nPrints the current access token's type, scopes and expiry, fetching or\n"+
		"refreshing it if needed. The token itself is printed (to stdout) only with --show-token.")
	addCommon(fs, &cf)
	fs.StringVar(&cf.scope, "scope", "", "User Client: user type requested at login ("+envScope+")")
	fs.BoolVar(&show, "show-token", false, "also print the access token, to stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	s, err := c.resolve(&cf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	src, store, err := c.tokenSource(ctx, s)
	if err != nil {
		return err
	}
	tok, err := src.Token(ctx)
	if err != nil {
		if s.clientType == authn.ClientUser && errors.Is(err, authn.ErrReauthorize) {
			return configErrorf("%v (run 'pkb login')", err)
		}
		return err
	}
	ct, scopes := src.Grant()
	hasRefresh := false
	if store != nil {
		if st, err := store.Load(ctx); err == nil && st != nil && st.RefreshToken != "" {
			c.secrets.addToken(st)
			hasRefresh = true
		}
	}
	info := describeToken(ct, tok, scopes, s, hasRefresh)
	if show {
		// Asked for: printed past the redaction of this one token (and
		// still without escape sequences).
		info.AccessToken = tok.AccessToken
		if cf.json {
			return writeJSONWith(c.rawStdout, info, c.secrets.redactor(tok.AccessToken))
		}
	}
	if cf.json {
		return writeJSON(c.stdout, info)
	}
	t := newTable("FIELD", "VALUE")
	t.add("environment", info.Environment)
	t.add("client type", info.ClientType)
	t.add("token type", info.TokenType)
	t.add("scopes", strings.Join(info.Scopes, " "))
	if !info.Expiry.IsZero() {
		t.add("expiry", fmt.Sprintf("%s (in %v)", info.Expiry.Format(time.RFC3339), time.Duration(info.ExpiresInSeconds)*time.Second))
	} else {
		t.add("expiry", "not stated by the server")
	}
	if ct == authn.ClientUser || ct == authn.ClientTethered {
		t.add("refresh token", map[bool]string{true: "stored (single-use, rotated on refresh)", false: "none"}[hasRefresh])
		t.add("token store", info.TokenStore)
	}
	t.write(c.stdout)
	if show {
		fmt.Fprintf(c.rawStdout, "\naccess token: %s\n", oneLine(c.secrets.redactor(tok.AccessToken), tok.AccessToken))
	}
	return nil
}

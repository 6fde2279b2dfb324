package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestSystemClientBasicAuthNoScope(t *testing.T) {
	as := newFakeAS(t)
	as.scope = "235a397b-1ae8-4755-9c77-1a0e2fbc5314-all"
	as.expiresIn = 3599
	clock := newFakeClock()
	c, err := NewSystemSource(SystemConfig{ClientID: "sys-id", ClientSecret: "sys-secret", Environment: as.env(), Options: Options{Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if typ, scopes := c.Grant(); typ != ClientSystem || scopes != nil {
		t.Fatalf("Grant before I/O = %v %v", typ, scopes)
	}
	if as.calls.Load() != 0 {
		t.Fatal("constructor or Grant did I/O")
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(3599 * time.Second); !tok.Expiry.Equal(want) {
		t.Fatalf("Expiry = %v, want %v (expires_in against the injected clock)", tok.Expiry, want)
	}
	form := as.lastForm()
	if form.Get("grant_type") != "client_credentials" || form.Has("scope") || form.Has("client_secret") || form.Has("client_id") {
		t.Fatalf("form = %v", form)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("sys-id:sys-secret")); as.lastAuth() != want {
		t.Fatalf("Authorization = %q", as.lastAuth())
	}
	if _, scopes := c.Grant(); scopes != nil {
		t.Fatalf("system client must ignore the returned scope, got %v", scopes)
	}
	// No refresh token: expiry means repeating the grant.
	clock.Advance(3600 * time.Second)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if as.calls.Load() != 2 || as.lastForm().Get("grant_type") != "client_credentials" {
		t.Fatalf("calls = %d form = %v", as.calls.Load(), as.lastForm())
	}
}

func TestCustomerClientAuthStyles(t *testing.T) {
	as := newFakeAS(t)
	as.scope = "email profile"
	as.expiresIn = 300
	c, err := NewCustomerSource(CustomerConfig{ClientID: "cust-id", ClientSecret: "cust-secret", Environment: as.env()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	form := as.lastForm()
	if form.Get("client_id") != "cust-id" || form.Get("client_secret") != "cust-secret" || as.lastAuth() != "" {
		t.Fatalf("default must post the secret as form fields: form=%v auth=%q", form, as.lastAuth())
	}
	if typ, scopes := c.Grant(); typ != ClientCustomer || !reflect.DeepEqual(scopes, []string{"email", "profile"}) {
		t.Fatalf("Grant = %v %v", typ, scopes)
	}

	c2, _ := NewCustomerSource(CustomerConfig{ClientID: "cust-id", ClientSecret: "cust-secret", Environment: as.env(), AuthStyle: oauth2.AuthStyleInHeader})
	if _, err := c2.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(as.lastAuth(), "Basic ") || as.lastForm().Has("client_secret") {
		t.Fatalf("Basic style: form=%v auth=%q", as.lastForm(), as.lastAuth())
	}
}

func TestConstructorsValidateWithoutIO(t *testing.T) {
	env := Sandbox
	for name, err := range map[string]error{
		"system no secret":  second(NewSystemSource(SystemConfig{ClientID: "x", Environment: env})),
		"system bad url":    second(NewSystemSource(SystemConfig{ClientID: "x", ClientSecret: "y", Environment: Environment{SystemTokenURL: "/relative"}})),
		"customer no id":    second(NewCustomerSource(CustomerConfig{ClientSecret: "y", Environment: env})),
		"tethered no token": second(NewTetheredSource(TetheredConfig{ClientID: "x", ClientSecret: "y", Environment: env})),
		"user no id":        second(NewUserSource(UserConfig{Environment: env})),
		"user bad redirect": second(NewUserSource(UserConfig{ClientID: "x", Environment: env, RedirectURL: "cb"})),
		"url with userinfo": second(NewSystemSource(SystemConfig{ClientID: "x", ClientSecret: "y", Environment: Environment{SystemTokenURL: "https://u:p@h/t"}})),
	} {
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	_, err := NewUserSource(UserConfig{ClientID: "x", Environment: env, Scope: "SITE"})
	var ce *ConfigError
	if !errors.Is(err, ErrInvalidScope) || !errors.As(err, &ce) || ce.Field != "Scope" {
		t.Fatalf("user scope SITE: %v", err)
	}
	for _, s := range []string{"", ScopePatient, ScopeClinician, ScopeTeamCoord} {
		if _, err := NewUserSource(UserConfig{ClientID: "x", Environment: env, Scope: s}); err != nil {
			t.Errorf("scope %q: %v", s, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func newTethered(t *testing.T, as *fakeAS, store TokenStore, rt string, clock *fakeClock) *TetheredSource {
	t.Helper()
	c, err := NewTetheredSource(TetheredConfig{
		ClientID: "teth-id", ClientSecret: "teth-secret", Environment: as.env(),
		RefreshToken: rt, Store: store, Options: Options{Now: clock.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTetheredRedeemsWithScopeSITEAndSavesBeforeHandOut(t *testing.T) {
	as := newFakeAS(t)
	as.scope = "SITE"
	rt := as.issueRT()
	store := &recordingStore{TokenStore: NewMemoryStore(nil)}
	c := newTethered(t, as, store, rt, newFakeClock())
	if typ, scopes := c.Grant(); typ != ClientTethered || !reflect.DeepEqual(scopes, []string{"SITE"}) {
		t.Fatalf("Grant = %v %v", typ, scopes)
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	form := as.lastForm()
	if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != rt || form.Get("scope") != "SITE" {
		t.Fatalf("form = %v", form)
	}
	saves := store.saved()
	if len(saves) != 1 || saves[0].AccessToken != tok.AccessToken || saves[0].RefreshToken == rt || saves[0].RefreshToken == "" {
		t.Fatalf("saves = %+v, handed out %s", saves, tok.AccessToken)
	}
}

func TestTetheredStoreWinsOverConfig(t *testing.T) {
	as := newFakeAS(t)
	old := as.issueRT()
	newer := as.issueRT()
	store := NewMemoryStore(&oauth2.Token{RefreshToken: newer})
	c := newTethered(t, as, store, old, newFakeClock())
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := as.lastForm().Get("refresh_token"); got != newer {
		t.Fatalf("redeemed %s, want the stored %s", got, newer)
	}
}

func TestTetheredFallsBackToConfiguredTokenWhenStoredSessionIsDead(t *testing.T) {
	as := newFakeAS(t)
	fresh := as.issueRT()
	store := NewMemoryStore(&oauth2.Token{RefreshToken: "rt-dead"})
	c := newTethered(t, as, store, fresh, newFakeClock())
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatalf("fallback to the configured token failed: %v", err)
	}
	if got := as.lastForm().Get("refresh_token"); got != fresh {
		t.Fatalf("redeemed %s", got)
	}
}

func TestRotationNeverRedeemsTwiceUnderConcurrency(t *testing.T) {
	as := newFakeAS(t)
	as.expiresIn = 300
	clock := newFakeClock()
	store := NewFileStore(t.TempDir() + "/tok.json")
	c := newTethered(t, as, store, as.issueRT(), clock)
	ctx := context.Background()

	for round := range 20 {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := c.Token(ctx)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				if i%7 == 0 {
					c.Invalidate(tok.AccessToken) // simulated 401s
				}
			}()
		}
		wg.Wait()
		clock.Advance(250 * time.Second) // past the early window
	}
	if r := as.reusedTokens(); len(r) > 0 {
		t.Fatalf("refresh tokens redeemed twice: %v", r)
	}
}

func TestTwoClientsSharingAStoreRereadBeforeRedeeming(t *testing.T) {
	as := newFakeAS(t)
	as.expiresIn = 300
	clock := newFakeClock()
	store := NewFileStore(t.TempDir() + "/tok.json")
	rt := as.issueRT()
	a := newTethered(t, as, store, rt, clock)
	b := newTethered(t, as, store, rt, clock)
	ctx := context.Background()
	for range 5 {
		if _, err := a.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Token(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(290 * time.Second)
	}
	if r := as.reusedTokens(); len(r) > 0 {
		t.Fatalf("refresh tokens redeemed twice: %v", r)
	}
}

func TestSaveFailureKeepsSessionInMemory(t *testing.T) {
	as := newFakeAS(t)
	store := &recordingStore{TokenStore: NewMemoryStore(nil)}
	rt := as.issueRT()
	c := newTethered(t, as, store, rt, newFakeClock())
	store.setFail(errors.New("disk full while writing " + rt))

	_, err := c.Token(context.Background())
	if !errors.Is(err, ErrNotPersisted) {
		t.Fatalf("err = %v, want ErrNotPersisted", err)
	}
	if !strings.Contains(err.Error(), "refresh token could not be persisted") {
		t.Fatalf("message does not say what happened: %v", err)
	}
	if strings.Contains(err.Error(), "rt-") {
		t.Fatalf("message leaks a refresh token: %v", err)
	}
	if as.calls.Load() != 1 {
		t.Fatalf("calls = %d", as.calls.Load())
	}
	// Still failing: no second redemption, still an error.
	if _, err := c.Token(context.Background()); !errors.Is(err, ErrNotPersisted) {
		t.Fatalf("err = %v", err)
	}
	store.setFail(nil)
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatalf("after the store recovered: %v", err)
	}
	if as.calls.Load() != 1 {
		t.Fatalf("session was re-redeemed instead of kept in memory: calls = %d", as.calls.Load())
	}
	if saves := store.saved(); len(saves) != 1 || saves[0].AccessToken != tok.AccessToken {
		t.Fatalf("saves = %+v", saves)
	}
	if r := as.reusedTokens(); len(r) > 0 {
		t.Fatalf("reused %v", r)
	}
}

func TestDeadSessionFailsFastWithoutIO(t *testing.T) {
	as := newFakeAS(t)
	c := newTethered(t, as, nil, "rt-never-issued", newFakeClock())
	_, err := c.Token(context.Background())
	if !errors.Is(err, ErrReauthorize) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "Team Coordinator") {
		t.Fatalf("hint should name the Team Coordinator: %v", err)
	}
	n := as.calls.Load()
	if _, err := c.Token(context.Background()); !errors.Is(err, ErrReauthorize) {
		t.Fatalf("err = %v", err)
	}
	if as.calls.Load() != n {
		t.Fatal("a dead refresh token was presented again")
	}
}

func TestRefreshWithoutNewRefreshTokenEndsCleanly(t *testing.T) {
	as := newFakeAS(t)
	as.omitRefresh = true
	as.expiresIn = 300
	clock := newFakeClock()
	c := newTethered(t, as, nil, as.issueRT(), clock)
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(301 * time.Second)
	_, err := c.Token(context.Background())
	if !errors.Is(err, ErrReauthorize) {
		t.Fatalf("err = %v", err)
	}
	if as.calls.Load() != 1 || len(as.reusedTokens()) != 0 {
		t.Fatalf("spent refresh token presented again: calls=%d", as.calls.Load())
	}
}

func TestCallerCancelDuringRedemptionDoesNotLoseRotatedToken(t *testing.T) {
	as := newFakeAS(t)
	gate := make(chan struct{})
	as.gate = gate
	store := &recordingStore{TokenStore: NewMemoryStore(nil)}
	c := newTethered(t, as, store, as.issueRT(), newFakeClock())

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		errc <- err
	}()
	waitFor(t, func() bool { return as.calls.Load() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	close(gate) // PKB answers after the caller has gone.
	waitFor(t, func() bool { return len(store.saved()) == 1 })

	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != store.saved()[0].AccessToken || as.calls.Load() != 1 {
		t.Fatalf("rotated token lost: tok=%s calls=%d", tok.AccessToken, as.calls.Load())
	}
}

func TestUserAuthCodeURL(t *testing.T) {
	c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: "user-secret", Environment: Sandbox, RedirectURL: "https://app.example/cb", Scope: ScopePatient})
	if err != nil {
		t.Fatal(err)
	}
	raw, p := c.AuthCodeURL()
	u, _ := url.Parse(raw)
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != Sandbox.UserAuthorizeURL {
		t.Fatalf("url = %s", raw)
	}
	for k, want := range map[string]string{
		"response_type": "code", "client_id": "user-id", "scope": "PATIENT",
		"redirect_uri": "https://app.example/cb", "state": p.State,
		"code_challenge_method": "S256", "code_challenge": oauth2.S256ChallengeFromVerifier(p.Verifier),
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(p.State) < 16 || strings.Contains(raw, p.Verifier) {
		t.Fatalf("state too short or verifier leaked into the URL")
	}
	if _, p2 := c.AuthCodeURL(); p2.State == p.State || p2.Verifier == p.Verifier {
		t.Fatal("state/verifier reused")
	}
	if s := p.String(); strings.Contains(s, p.Verifier) {
		t.Fatalf("PendingAuth.String leaks the verifier: %s", s)
	}
}

func newUser(t *testing.T, as *fakeAS, store TokenStore, clock *fakeClock) *UserSource {
	t.Helper()
	c, err := NewUserSource(UserConfig{
		ClientID: "user-id", ClientSecret: "user-secret", Environment: as.env(),
		RedirectURL: "https://app.example/cb", Scope: ScopeClinician, Store: store,
		Options: Options{Now: clock.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUserExchangeAndRefresh(t *testing.T) {
	as := newFakeAS(t)
	as.scope = "PATIENT" // PKB may grant another user type than requested
	as.expiresIn = 600
	clock := newFakeClock()
	store := &recordingStore{TokenStore: NewMemoryStore(nil)}
	c := newUser(t, as, store, clock)
	ctx := context.Background()

	if _, err := c.Token(ctx); !errors.Is(err, ErrReauthorize) {
		t.Fatalf("before login: %v", err)
	}
	if as.calls.Load() != 0 {
		t.Fatal("Token before login did network I/O")
	}
	if _, scopes := c.Grant(); !reflect.DeepEqual(scopes, []string{"CLINICIAN"}) {
		t.Fatalf("Grant before login = %v", scopes)
	}

	_, p := c.AuthCodeURL()
	as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
		if form.Get("grant_type") == "authorization_code" {
			if form.Get("code") != "the-code" || form.Get("redirect_uri") != "https://app.example/cb" || form.Get("code_verifier") != p.Verifier {
				writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
				return true
			}
		}
		return false
	})
	tok, err := c.Exchange(ctx, p, url.Values{"code": {"the-code"}, "state": {p.State}})
	if err != nil {
		t.Fatal(err)
	}
	if saves := store.saved(); len(saves) != 1 || saves[0].RefreshToken != tok.RefreshToken || tok.RefreshToken == "" {
		t.Fatalf("exchange result not saved first: %+v", saves)
	}
	if !reflect.DeepEqual(GrantedScopes(tok), []string{"PATIENT"}) {
		t.Fatalf("GrantedScopes = %v", GrantedScopes(tok))
	}
	if typ, scopes := c.Grant(); typ != ClientUser || !reflect.DeepEqual(scopes, []string{"PATIENT"}) {
		t.Fatalf("Grant must report the granted scope: %v %v", typ, scopes)
	}
	if got, _ := c.Token(ctx); got.AccessToken != tok.AccessToken || as.calls.Load() != 1 {
		t.Fatal("exchanged token not cached")
	}

	clock.Advance(545 * time.Second)
	got, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	form := as.lastForm()
	if got.AccessToken == tok.AccessToken || form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != tok.RefreshToken {
		t.Fatalf("refresh: got %s form %v", got.AccessToken, form)
	}
	if saves := store.saved(); len(saves) != 2 || saves[1].AccessToken != got.AccessToken {
		t.Fatalf("rotated token not saved: %+v", saves)
	}

	// A new client on the same store is already logged in.
	c2 := newUser(t, as, store.TokenStore, clock)
	if got2, err := c2.Token(ctx); err != nil || got2.AccessToken != got.AccessToken {
		t.Fatalf("second client: %v %v", got2, err)
	}
}

func TestUserExchangeCallbackErrors(t *testing.T) {
	as := newFakeAS(t)
	c := newUser(t, as, nil, newFakeClock())
	ctx := context.Background()
	_, p := c.AuthCodeURL()

	_, err := c.Exchange(ctx, p, url.Values{"code": {"c"}, "state": {"forged"}})
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("forged state: %v", err)
	}
	_, err = c.Exchange(ctx, p, url.Values{"code": {"c"}})
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("missing state: %v", err)
	}
	_, err = c.Exchange(ctx, nil, url.Values{"code": {"c"}, "state": {p.State}})
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("nil pending: %v", err)
	}
	_, err = c.Exchange(ctx, p, url.Values{"error": {"access_denied"}, "state": {p.State}})
	var ce *CallbackError
	if !errors.Is(err, ErrAccessDenied) || !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("denied: %v", err)
	}
	_, err = c.Exchange(ctx, p, url.Values{"error": {"server_error"}, "state": {p.State}})
	if !errors.As(err, &ce) || ce.Code != "server_error" || errors.Is(err, ErrAccessDenied) {
		t.Fatalf("server_error: %v", err)
	}
	_, err = c.Exchange(ctx, p, url.Values{"state": {p.State}})
	if !errors.As(err, &ce) || ce.Code != "missing_code" {
		t.Fatalf("missing code: %v", err)
	}
	if as.calls.Load() != 0 {
		t.Fatal("a bad callback reached the token endpoint")
	}
}

func TestLoginLoopback(t *testing.T) {
	as := newFakeAS(t)
	as.scope = "PATIENT"
	store := NewMemoryStore(nil)
	cfg := UserConfig{ClientID: "user-id", ClientSecret: "user-secret", Environment: as.env(), Scope: ScopePatient, Store: store}

	pagec := make(chan string, 1)
	var codeRedirect string
	as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
		if form.Get("grant_type") == "authorization_code" && form.Get("redirect_uri") != codeRedirect {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
			return true
		}
		return false
	})
	// open plays the browser and PKB's consent page: it follows the
	// authorization URL straight back to the loopback redirect.
	open := func(authURL string) error {
		u, err := url.Parse(authURL)
		if err != nil {
			return err
		}
		q := u.Query()
		redirect := q.Get("redirect_uri")
		if !strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/callback") {
			t.Errorf("redirect_uri = %s", redirect)
		}
		codeRedirect = redirect
		go func() {
			// A forged callback first: it must be ignored, not end the login.
			if resp, err := http.Get(redirect + "?code=evil&state=wrong"); err == nil {
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("forged callback status = %d", resp.StatusCode)
				}
				resp.Body.Close()
			}
			resp, err := http.Get(redirect + "?code=good-code&state=" + url.QueryEscape(q.Get("state")))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			pagec <- string(b)
		}()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := LoginLoopback(ctx, cfg, open)
	if err != nil {
		t.Fatal(err)
	}
	saved, _ := store.Load(ctx)
	if saved == nil || saved.RefreshToken != tok.RefreshToken {
		t.Fatalf("token not saved: %+v", saved)
	}
	if page := <-pagec; !strings.Contains(page, "Login complete") {
		t.Fatalf("page = %q", page)
	}
}

func TestLoginLoopbackTimesOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := LoginLoopback(ctx, UserConfig{ClientID: "x", Environment: Sandbox}, func(string) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestClientsSingleFlightEndToEnd(t *testing.T) {
	for _, typ := range []string{"system", "tethered"} {
		t.Run(typ, func(t *testing.T) {
			as := newFakeAS(t)
			var src Source
			if typ == "system" {
				src, _ = NewSystemSource(SystemConfig{ClientID: "id", ClientSecret: "s", Environment: as.env()})
			} else {
				src = newTethered(t, as, nil, as.issueRT(), newFakeClock())
			}
			var wg sync.WaitGroup
			for range 1000 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := src.Token(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n := as.calls.Load(); n != 1 {
				t.Fatalf("token requests = %d, want 1", n)
			}
		})
	}
}

func TestTetheredInvalidateRedeemsInsteadOfReusingStoredToken(t *testing.T) {
	as := newFakeAS(t)
	store := NewMemoryStore(nil)
	c := newTethered(t, as, store, as.issueRT(), newFakeClock())
	ctx := context.Background()
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Invalidate(first.AccessToken) {
		t.Fatal("Invalidate did not drop the current token")
	}
	if c.Invalidate(first.AccessToken) {
		t.Fatal("second Invalidate for the same token dropped again")
	}
	second, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || as.calls.Load() != 2 {
		t.Fatalf("the refused token came back from the store: %s calls=%d", second.AccessToken, as.calls.Load())
	}
}

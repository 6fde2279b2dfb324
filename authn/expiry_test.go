package authn

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// expiresInCases are expires_in members as servers have sent them or as a
// hostile server might, with the lifetime the client must use: 0 means
// unknown (the token is used until it is refused).
var expiresInCases = []struct {
	name string
	json string // the raw JSON value
	want time.Duration
}{
	{"integer", `3599`, 3599 * time.Second},
	{"string", `"600"`, 600 * time.Second},
	{"padded string", `" 300 "`, 300 * time.Second},
	{"fraction", `1800.5`, 1800*time.Second + 500*time.Millisecond},
	{"fraction string", `"1800.5"`, 1800*time.Second + 500*time.Millisecond},
	{"exponent", `3.6e3`, 3600 * time.Second},
	{"overflows time.Duration", `9300000000`, maxTokenLifetime},
	{"overflows int64", `1e19`, maxTokenLifetime},
	{"overflows float64", `1e400`, maxTokenLifetime},
	{"huge string", `"99999999999999999999"`, maxTokenLifetime},
	{"infinity string", `"Infinity"`, maxTokenLifetime},
	{"just over the cap", fmt.Sprint(int(maxTokenLifetime/time.Second) + 1), maxTokenLifetime},
	{"zero", `0`, 0},
	{"negative", `-5`, 0},
	{"negative huge", `-1e30`, 0},
	{"NaN string", `"NaN"`, 0},
	{"non-numeric string", `"soon"`, 0},
	{"empty string", `""`, 0},
	{"null", `null`, 0},
	{"bool", `true`, 0},
	{"object", `{"s":1}`, 0},
	{"array", `[600]`, 0},
}

func TestExpiresInIsClampedAndLenient(t *testing.T) {
	for _, tc := range expiresInCases {
		for _, key := range []string{"expires_in", "EXPIRES_IN"} {
			t.Run(tc.name+"/"+key, func(t *testing.T) {
				as := newFakeAS(t)
				as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"access_token":"at-1","token_type":"Bearer",%q:%s,"scope":"x y"}`, key, tc.json)
					return true
				})
				clock := newFakeClock()
				start := clock.Now()
				c, err := NewSystemSource(SystemConfig{ClientID: "id", ClientSecret: "secret", Environment: as.env(), Options: Options{Now: clock.Now}})
				if err != nil {
					t.Fatal(err)
				}
				tok, err := c.Token(context.Background())
				if err != nil {
					t.Fatalf("a token with expires_in %s was refused: %v", tc.json, err)
				}
				checkExpiry(t, tok.Expiry, tok.ExpiresIn, start, tc.want)
				for range 3 {
					if _, err := c.Token(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				if n := as.calls.Load(); n != 1 {
					t.Fatalf("token fetched %d times in four calls", n)
				}
			})
		}
	}
}

func checkExpiry(t *testing.T, expiry time.Time, expiresIn int64, start time.Time, want time.Duration) {
	t.Helper()
	if want == 0 {
		if !expiry.IsZero() || expiresIn != 0 {
			t.Fatalf("Expiry = %v ExpiresIn = %d, want an unknown lifetime (zero)", expiry, expiresIn)
		}
		return
	}
	if got := expiry.Sub(start); got != want {
		t.Fatalf("lifetime = %v, want %v", got, want)
	}
	if expiresIn != int64(want/time.Second) {
		t.Fatalf("ExpiresIn = %d, want %d", expiresIn, int64(want/time.Second))
	}
}

// Form-encoded token responses take x/oauth2's other parser.
func TestExpiresInFormEncoded(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"600", 600 * time.Second},
		{"9300000000", maxTokenLifetime},
		{"99999999999999999999", maxTokenLifetime},
		{"-1", 0},
		{"soon", 0},
	} {
		t.Run(tc.value, func(t *testing.T) {
			as := newFakeAS(t)
			as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
				w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
				fmt.Fprint(w, url.Values{"access_token": {"at-1"}, "token_type": {"Bearer"}, "expires_in": {tc.value}}.Encode())
				return true
			})
			clock := newFakeClock()
			c, err := NewSystemSource(SystemConfig{ClientID: "id", ClientSecret: "secret", Environment: as.env(), Options: Options{Now: clock.Now}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkExpiry(t, tok.Expiry, tok.ExpiresIn, clock.Now(), tc.want)
			c.Token(context.Background())
			if n := as.calls.Load(); n != 1 {
				t.Fatalf("token fetched %d times in two calls", n)
			}
		})
	}
}

// A refresh that PKB accepted has spent the old refresh token: refusing the
// answer over an odd expires_in would end the session.
func TestOddExpiresInDoesNotLoseARotatedRefreshToken(t *testing.T) {
	as := newFakeAS(t)
	rt := as.issueRT()
	as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-new","refresh_token":"rt-new","token_type":"Bearer","expires_in":"in ten minutes"}`)
		return true
	})
	store := &recordingStore{TokenStore: NewMemoryStore(nil)}
	c := newTethered(t, as, store, rt, newFakeClock())
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if saves := store.saved(); tok.AccessToken != "at-new" || len(saves) != 1 || saves[0].RefreshToken != "rt-new" {
		t.Fatalf("token %q, saves %+v", tok.AccessToken, saves)
	}
}

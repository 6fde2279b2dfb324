package wrappers

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/gen/access"
)

// A 401 from PKB is not always about the token. PKB's REST API answers a
// valid token whose user may not make the call (the wrong user type, or a
// clinician without break-the-glass enabled) with 401 and a plain-text
// message, "… Method requires a user within scope(s) CLINICIAN … but
// current user is of UserType PATIENT" (docs/pkb-api.md §2.5, "Wrong user
// type"). Taking such a 401 as an expired token would drop the token and
// redeem the refresh token, which PKB issues for one use only, on every
// call: a loop of 401s would spend a refresh each time. So:
//
//   - a 401 whose text is PKB's wrong-user-type message is a refusal: no
//     refresh, no replay;
//   - any other 401 drops the token and replays once with a fresh one; if
//     that fresh token is refused too, without a sign that it is the token
//     (RFC 6750's invalid_token, or one of PKB's token and session codes,
//     docs/pkb-api.md §4), the 401 is a refusal and the token is remembered
//     as accepted, so that later 401s for it do not refresh again.
//
// Either refusal is an *APIError with WrongUserType set, for which
// IsPermissionDenied is true. At most one refresh is spent per access
// token, however many such 401s arrive.

// peekLimit bounds how much of a 401 body is read to classify it.
const peekLimit = 8 << 10

// wrongUserTypePhrases are PKB's words for a valid token of the wrong
// user type (docs/pkb-api.md §2.5), compared in lower case.
var wrongUserTypePhrases = []string{"method requires a user within scope", "current user is of usertype"}

// tokenCodes are PKB's response codes about the token or the session
// (docs/pkb-api.md §4): a 401 carrying one is about the token.
var tokenCodes = []string{CodeAccessTokenExpired, CodeBadAuthentication, CodeSessionExpired, CodeSessionInvalid}

// isWrongUserType reports whether a 401 body is PKB's wrong-user-type text.
func isWrongUserType(body []byte) bool {
	low := bytes.ToLower(body)
	for _, p := range wrongUserTypePhrases {
		if bytes.Contains(low, []byte(p)) {
			return true
		}
	}
	return false
}

// aboutToken reports whether a 401 says the token itself was refused:
// RFC 6750's invalid_token challenge, or a PKB token or session code.
func aboutToken(resp *http.Response, body []byte) bool {
	if strings.Contains(strings.ToLower(resp.Header.Get("WWW-Authenticate")), "invalid_token") {
		return true
	}
	for _, c := range tokenCodes {
		if bytes.Contains(body, []byte(c)) {
			return true
		}
	}
	return false
}

// peekBody reads up to peekLimit bytes of resp's body and puts them back
// in front of the rest, so the error built from it still sees everything.
func peekBody(resp *http.Response) []byte {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return head
}

// acceptedTokens remembers the access token PKB was seen to accept while
// answering 401 (a fresh token refused again): only its hash, and only the
// latest, since a client holds one token at a time.
type acceptedTokens struct {
	mu  sync.Mutex
	sum [sha256.Size]byte
	set bool
}

func (a *acceptedTokens) remember(tok string) {
	sum := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	a.sum, a.set = sum, true
	a.mu.Unlock()
}

func (a *acceptedTokens) has(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.set && a.sum == sum
}

// unauthorized handles a 401 to req, sent with tok, as the comment at the
// top of this file says. It returns the response to report (the first or
// the replay's), the token the replay was sent with (nil if none) and
// whether the 401 is a refusal of a valid token.
func (f *Family) unauthorized(req *http.Request, resp *http.Response, op access.Operation, tok *oauth2.Token, public bool) (*http.Response, *oauth2.Token, bool, error) {
	body := peekBody(resp)
	if isWrongUserType(body) || (f.p.accepted.has(tok.AccessToken) && !aboutToken(resp, body)) {
		return resp, nil, true, nil
	}
	again, fresh, err := f.replay(req, resp, op, tok, public)
	if err != nil || fresh == nil || again.StatusCode != http.StatusUnauthorized {
		return again, fresh, false, err
	}
	body = peekBody(again)
	switch {
	case isWrongUserType(body):
		return again, fresh, true, nil
	case fresh.AccessToken != tok.AccessToken && !aboutToken(again, body):
		f.p.accepted.remember(fresh.AccessToken)
		return again, fresh, true, nil
	}
	return again, fresh, false, nil
}

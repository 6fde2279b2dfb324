package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// LoginLoopback runs the User Client login for a command-line program: it
// builds a client from cfg and calls [UserSource.LoginLoopback]. The token is
// saved to cfg.Store, so a client built later from the same store is already
// logged in.
func LoginLoopback(ctx context.Context, cfg UserConfig, open func(url string) error) (*oauth2.Token, error) {
	c, err := NewUserSource(cfg)
	if err != nil {
		return nil, err
	}
	return c.LoginLoopback(ctx, open)
}

// LoginLoopback listens on 127.0.0.1 on a free port, calls open with the
// authorization URL (whose redirect is http://127.0.0.1:<port>/callback),
// waits for PKB to redirect the browser back, exchanges the code and saves
// the token. ctx bounds the whole wait, so give it a timeout.
//
// PKB accepts loopback redirects (docs/pkb-api.md §3.2), but the client must still
// be registered for them. Callbacks with the wrong state get an error page
// and are otherwise ignored, so another local page cannot end the login; the
// first callback with the right state decides the outcome.
func (c *UserSource) LoginLoopback(ctx context.Context, open func(url string) error) (*oauth2.Token, error) {
	if open == nil {
		return nil, &ConfigError{Field: "open", Reason: "is required", Err: ErrInvalidConfig}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("authn: listen for the login callback: %w", err)
	}
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", ln.Addr().(*net.TCPAddr).Port)
	authURL, pending := c.authCodeURL(redirect)

	type result struct {
		tok *oauth2.Token
		err error
	}
	resc := make(chan result, 1)
	var claimed sync.Mutex
	done := false

	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pending.State)) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, "This login link does not belong to the running program. Start the login again.")
			return
		}
		claimed.Lock()
		defer claimed.Unlock()
		if done {
			fmt.Fprintln(w, "This login has already been handled. You can close this window.")
			return
		}
		done = true
		tok, err := c.Exchange(ctx, pending, q)
		switch {
		case err == nil:
			fmt.Fprintln(w, "Login complete. You can close this window and return to the program.")
		case errors.Is(err, ErrNotPersisted):
			fmt.Fprintln(w, "Login succeeded, but the program could not save it. See the program's output.")
		case errors.Is(err, ErrAccessDenied):
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, "Access was not granted. You can close this window.")
		default:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintln(w, "Login failed. See the program's output for details.")
		}
		resc <- result{tok, err}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		// Let the handler finish writing its page before the listener goes.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	if err := open(authURL); err != nil {
		return nil, fmt.Errorf("authn: open the authorization URL: %w", err)
	}
	select {
	case r := <-resc:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("authn: waiting for the login callback: %w", ctx.Err())
	}
}

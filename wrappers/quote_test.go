package wrappers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// rawServer answers every connection with the bytes of response(token),
// whatever they are: net/http's own server would refuse to send them.
func rawServer(t *testing.T, response func(token string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				fmt.Fprint(conn, response(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func assertNoServerText(t *testing.T, what string, err error, token string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), logged(err)} {
		for _, id := range append(seededIdentifiers, token, "tok-SECRET", "\x1b", "pwned") {
			if id != "" && strings.Contains(s, id) {
				t.Errorf("%s: the error quotes %q: %.400q", what, id, s)
			}
		}
	}
}

// TestServerTextIsNotQuotedInRequestErrors: net/http and net/url quote
// what they could not parse (a status line, a header line, a Location
// header), and a RequestError must not pass that on.
func TestServerTextIsNotQuotedInRequestErrors(t *testing.T) {
	hostile := "9434765919 Zwanenburg \x1b]0;pwned\x07"
	responses := map[string]func(string) string{
		"malformed header line": func(tok string) string {
			return "HTTP/1.1 200 OK\r\nX-Echo: " + tok + " " + hostile + "\r\nContent-Length: 0\r\n\r\n"
		},
		"header line without a colon": func(tok string) string {
			return "HTTP/1.1 200 OK\r\n" + tok + " 9434765919 Zwanenburg\r\nContent-Length: 0\r\n\r\n"
		},
		"malformed status line": func(tok string) string {
			return "HTTP/1.1 2x0 " + tok + " 9434765919 Zwanenburg\r\nContent-Length: 0\r\n\r\n"
		},
		"not HTTP": func(tok string) string {
			return "SSH-2.0 " + tok + " 9434765919 Zwanenburg\r\n\r\n"
		},
		"unparseable Location": func(tok string) string {
			return "HTTP/1.1 302 Found\r\nLocation: http://[9434765919::" + tok + "%zzZwanenburg/\r\nContent-Length: 0\r\n\r\n"
		},
		"unparseable relative Location": func(tok string) string {
			return "HTTP/1.1 307 Temporary Redirect\r\nLocation: /fhir/Patient/%zz9434765919-" + tok + "-Zwanenburg\r\nContent-Length: 0\r\n\r\n"
		},
		"Location with a control character": func(tok string) string {
			return "HTTP/1.1 301 Moved Permanently\r\nLocation: /fhir/Patient/9434765919\x7f" + tok + "-Zwanenburg\r\nContent-Length: 0\r\n\r\n"
		},
	}
	for name, resp := range responses {
		t.Run(name, func(t *testing.T) {
			url := rawServer(t, resp)
			src := &fakeSource{ct: authn.ClientSystem}
			c, err := NewSystemClient(src.in(loopbackEnv(url)), orgID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
			tok, _ := src.Token(context.Background())
			assertNoServerText(t, name, err, tok.AccessToken)
			var re *RequestError
			if !errors.As(err, &re) || re.Route != "/Patient/{id}" {
				t.Errorf("want a RequestError naming the route, got %v", err)
			}
		})
	}
}

// TestMalformedNextLinkIsNotQuoted: a next link is the server's text.
func TestMalformedNextLinkIsNotQuoted(t *testing.T) {
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithHTTPClient(&http.Client{Transport: transportFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("unreachable") // a query url.Parse accepts is sent
	})}))
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{
		"Patient?identifier=9434765919&name=Zwanenburg%zz",
		"Patient?identifier=9434765919\x1b]0;pwned\x07",
		"https://[9434765919::Zwanenburg/fhir/Patient",
		"https://sandbox.patientsknowbest.com:9434765919/fhir/Patient?name=Zwanenburg",
		":9434765919/Zwanenburg",
		"https://evil-9434765919-Zwanenburg.example.org/fhir/Patient",
		"https://sandbox.patientsknowbest.com/json/Patient/9434765919/Zwanenburg",
		"https://user-9434765919:Zwanenburg@sandbox.patientsknowbest.com/fhir/Patient",
	} {
		b := linkPage(t, c.Facade.Family(), link)
		var last error
		for _, err := range b.Pages(context.Background()) {
			last = err
		}
		assertNoServerText(t, fmt.Sprintf("next link %q", link), last, "")
	}
}

// TestDecodeErrorsDoNotQuoteValues: encoding/json puts a number that does
// not fit into its message, and a resourceType is the server's text.
func TestDecodeErrorsDoNotQuoteValues(t *testing.T) {
	for _, body := range []string{
		`{"resourceType":"Bundle","total":94347659199434765919}`,
		`{"resourceType":"Bundle","total":-9434765919.5e3}`,
		`{"resourceType":"Zwanenburg-9434765919"}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Zwanenburg9434765919"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":"9434765919x"}}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":9434765919}}]}`,
		"{\"resourceType\":\"Bundle\",\"x\":\"\x1b]0;pwned\x07\" 9434765919}",
	} {
		_, err := DecodePage[stu3.Observation](nil, &http.Response{Body: io.NopCloser(strings.NewReader(body))})
		assertNoServerText(t, "DecodePage "+body, err, "")
		srv := rawServer(t, func(string) string {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		})
		c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv)}, orgID)
		first := linkPage(t, c.Facade.Family(), "Observation?page=2")
		var last error
		for _, err := range first.All(context.Background()) {
			if err != nil {
				last = err
			}
		}
		if strings.Contains(body, "entry") || strings.Contains(body, "total") || strings.Contains(body, `"x"`) {
			assertNoServerText(t, "paging "+body, last, "")
		}
	}
}

// Package authn obtains, caches and rotates OAuth 2.0 access tokens for the
// four kinds of Patients Know Best (PKB) API client.
//
// PKB has four client types with different grants, token endpoints and
// failure modes (docs/pkb-api.md §3), and a token from one is not accepted where
// another is expected. Each type therefore has its own constructor:
//
//   - [NewUserSource]: authorization code with PKCE, for a person who grants
//     access (scopes PATIENT, CLINICIAN or TEAMCOORD). [LoginLoopback] runs
//     the browser dance for command-line tools.
//   - [NewSystemSource]: client credentials with HTTP Basic, for the Facade
//     and Messaging FHIR endpoints.
//   - [NewCustomerSource]: client credentials against PKB's Keycloak, for
//     the Customer and Aggregated FHIR endpoints.
//   - [NewTetheredSource]: redeems a refresh token that a Team Coordinator
//     issued, with scope SITE, for the legacy REST API.
//
// All four return a [Source]: a context-aware [TokenSource] whose tokens are
// cached with single-flight refresh ahead of expiry, plus Invalidate for the
// "401 with a token we thought was valid" case, Grant, which says without
// any I/O which client type and scopes are in play so that callers can refuse
// an operation before a request leaves the process, and Environment, the PKB
// deployment the source was configured for. The API clients of package
// wrappers take every base URL from that environment ([Environment.BaseURL]),
// so a token is never sent to another deployment's hosts.
//
// # Refresh-token rotation
//
// PKB refresh tokens are single-use: redeeming one twice invalidates the whole
// session (API_SESSION_INVALID). The user and tethered clients therefore
// persist every new refresh token through a [TokenStore] before the access
// token that came with it is handed out, re-read the store before every
// redemption, and never redeem in two goroutines at once. The store is the
// only thing that survives a restart, so use [FileStore] or your own
// implementation in production; [MemoryStore] is for tests and short-lived
// programs. A redemption that fails in transit (timeout, 5xx) keeps the old
// refresh token, since retrying is the only way to recover if PKB never saw
// the request; if PKB did process it, the retry ends with ErrReauthorize.
//
// # Several clients, processes or replicas on one session
//
// A store that implements [Coordinator] is shared safely: before redeeming,
// a client takes the session's lease, re-reads the store and adopts a token
// another holder already rotated, so each refresh token is redeemed exactly
// once however many clients, processes or replicas share it. [FileStore]
// does this with flock(2) for the clients and processes of one host; the
// nested modules authn/redisstore and authn/pgstore do it for replicas on
// Redis (or Valkey) and PostgreSQL, with optional encryption at rest
// ([Keyring]). System and Customer clients given a Store share one access
// token among replicas the same way. If a shared store cannot be reached,
// user and tethered clients fail with [ErrStoreUnavailable] rather than
// redeem uncoordinated, while client-credentials clients fetch a token of
// their own. [MemoryStore], and stores of your own without Coordinator,
// are not locked: give each process its own session with those.
//
// # Where credentials go
//
// Token and authorization URLs must be https, or plain http only to a
// loopback host, with no user information or fragment; constructors refuse
// anything else before any I/O. Token requests never follow a redirect (a
// 307 or 308 would repeat the POST, secret and refresh token included, to
// the redirect's target): a 3xx is a [*TokenError] wrapping
// [ErrTokenEndpoint]. The configurations, clients and [PendingAuth] print
// and log themselves with every secret replaced by [REDACTED].
//
// # Errors
//
// Failures from a token endpoint are returned as [*TokenError], which can be
// tested with errors.Is against [ErrReauthorize], [ErrInvalidClient],
// [ErrInvalidScope] and [ErrTokenEndpoint]. Error strings never contain access
// tokens, refresh tokens, client secrets, authorization codes or PKCE
// verifiers, even when the server echoes them back; in particular the body
// that [golang.org/x/oauth2.RetrieveError] prints is never passed on.
//
// # Assumptions
//
// Several PKB details are undocumented (docs/pkb-api.md §6): production token hosts,
// the client authentication method at apiToken.action, and whether every
// refresh response carries a new refresh token. Where this package has to
// guess it says so in the doc comment, and every URL and the authentication
// style can be overridden.
package authn

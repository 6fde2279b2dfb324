// Package pkbtest is an offline stand-in for Patients Know Best's OAuth 2.0
// authorization servers, for tests of the pkb client library and of programs
// built on it. It is built on github.com/ory/fosite (authorization-code with
// PKCE, refresh-token, client-credentials and introspection handlers over an
// extended in-memory store) and lives in its own Go module so that fosite's
// dependency tree never reaches the root module.
//
// One [AuthServer] serves all four of PKB's token endpoints on one loopback
// HTTP server, at PKB's paths:
//
//   - GET  /apiAuthorize.action: User Client authorization code, PKCE S256
//     required; there is no UI, the configured [Approval] decides.
//   - POST /apiToken.action: User Client authorization_code and
//     refresh_token grants, and the Tethered-Token System Client's
//     refresh_token grant with scope=SITE. Refresh tokens are single-use and
//     rotate; reusing one kills the whole session (API_SESSION_INVALID).
//   - POST /api/oauth/token: System Client client_credentials, HTTP Basic
//     only, Spring-shaped response and errors.
//   - POST /auth/realms/pkb/protocol/openid-connect/token: Customer System
//     Client client_credentials, Keycloak-shaped, Basic or form secret.
//
// The resource-server side ([AuthServer.Introspect], [AuthServer.Authenticate])
// tells who an access token belongs to, or fails with a [*TokenError] carrying
// PKB's response code (ACC_TOKEN_EXPIRED, BAD_AUTHENTICATION,
// API_SESSION_INVALID).
//
// # Simulator
//
// [Simulator] grows the auth server into an offline PKB: the same token
// endpoints plus every endpoint family of the OpenAPI documents in
// api/openapi (Facade at /fhir, Messaging at /phr-fhir, the REST API at
// /json, Aggregated at /aggregated/fhir, Customer at /customer/stu3/fhir and
// /customer/r4/fhir, ending in /fhir like PKB's customer bases), served from synthetic, clearly fake data. Every request is
// validated against those documents with kin-openapi's openapi3filter, so a
// request the contract does not allow gets a 400 OperationOutcome naming the
// problem; PKB's token, client-type, user-type and X-Org-Public-Id rules
// apply as docs/pkb-api.md §3-4 describe. Use [NewServer] in tests (like
// httptest.NewServer) or [NewSimulator] and [Simulator.Start] in a program;
// [Simulator.Environment] points authn's token sources, and so the wrappers'
// clients built on them, at it.
//
// # Fleet tests
//
// [WithAccessTokenTTL] (pkb serve --access-token-ttl) shortens every access
// token's lifespan, so that a fleet of clients sharing one session rotates
// its refresh token every second or two. GET /_sim/stats ([Stats]) returns
// JSON counters since start: token requests per client type and grant,
// refresh-token redemptions, reuse detections and the sessions they killed,
// and API calls by status. A fleet that coordinates correctly shows as many
// redemptions as rotations and no reuse detection.
//
// # Seeded clients
//
// Unless [WithoutDefaultClients] is given, a new server knows these obviously
// fake clients, all with the secret "not-a-real-secret" ([DefaultClientSecret]):
//
//	type      client id                  scopes / notes
//	user      sandbox-user-client        PATIENT CLINICIAN TEAMCOORD; redirect http://127.0.0.1/callback (any loopback port)
//	tethered  sandbox-tethered-client    SITE; refresh tokens come from IssueTetheredRefreshToken
//	system    sandbox-system-client      "235a397b-1ae8-4755-9c77-1a0e2fbc5314-all"; client_name "pkbtest system client"
//	customer  sandbox-customer-client    email profile
//
// The default [Approval] approves as user "pkbtest-patient-1"
// ([DefaultUserID]); the default Team Coordinator for tethered tokens is
// "pkbtest-teamcoord-1" ([DefaultCoordinatorID]).
//
// # Approximations
//
// Where PKB's behaviour is undocumented the server picks the RFC 6749/7636
// behaviour fosite implements: authorization codes are single-use, state must
// be at least 8 characters, a refresh revokes the previous access token of
// the session, and session lifetime is absolute from the first grant. Access
// tokens are opaque HMAC tokens for every client type.
package pkbtest

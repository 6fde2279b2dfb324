// Package pkbtest is an offline stand-in for Patients Know Best's OAuth 2.0
// authorization servers and APIs, for tests of the pkb client library and of
// programs built on it. It is built on github.com/ory/fosite
// (authorization-code with optional PKCE, refresh-token, client-credentials
// and introspection handlers over an extended in-memory store) and lives in
// its own Go module so that fosite's dependency tree never reaches the root
// module.
//
// One [AuthServer] serves all four of PKB's token endpoints on one loopback
// HTTP server, at PKB's paths:
//
//   - GET  /apiAuthorize.action: User Client authorization code; there is
//     no UI, the configured [Approval] decides. PKCE is optional, as PKB's
//     documented parameters do not include it; an S256 challenge, when
//     sent, is enforced at the token endpoint.
//   - POST /apiToken.action: User Client authorization_code and
//     refresh_token grants, and the Tethered-Token System Client's
//     refresh_token grant with scope=SITE. Refresh tokens are single-use and
//     rotate; reusing one kills the whole session (API_SESSION_INVALID).
//   - POST /api/oauth/token: System Client client_credentials, HTTP Basic
//     only, Spring-shaped response and errors.
//   - POST /auth/realms/pkb/protocol/openid-connect/token: Customer System
//     Client client_credentials, Keycloak-shaped, Basic or form secret. Its
//     access tokens are RS256 JWTs with Keycloak's claims ([KeycloakClaims]:
//     iss, aud, exp, iat, jti, sub, typ, azp, scope), signed by a key the
//     server generates and published at
//     /auth/realms/pkb/protocol/openid-connect/certs. Other client types get
//     opaque tokens.
//
// The resource-server side ([AuthServer.Introspect], [AuthServer.Authenticate])
// tells who an access token belongs to, or fails with a [*TokenError] carrying
// PKB's response code (ACC_TOKEN_EXPIRED, BAD_AUTHENTICATION,
// API_SESSION_INVALID). A JWT is verified as a resource server must:
// algorithm, key id and signature, issuer, audience, expiry, and azp and
// scope against the stored grant.
//
// # Simulator
//
// [Simulator] grows the auth server into an offline PKB: the same token
// endpoints plus every endpoint family of the OpenAPI documents in
// api/openapi (Facade at /fhir, Messaging at /phr-fhir, the REST API at
// /json, Aggregated at /aggregated/fhir, Customer at /customer/stu3/fhir and
// /customer/r4/fhir, ending in /fhir like PKB's customer bases), served from
// synthetic, clearly fake data. Every request is validated against those
// documents with kin-openapi's openapi3filter, so a request the contract does
// not allow gets a 400 OperationOutcome naming the problem; PKB's token,
// client-type, user-type and X-Org-Public-Id rules apply as docs/pkb-api.md
// §3-4 describe. Use [NewServer] in tests (like httptest.NewServer) or
// [NewSimulator] and [Simulator.Start] in a program; [Simulator.Environment]
// points authn's token sources, and so the wrappers' clients built on them,
// at it. Each request logs one Info line ([WithLogger]): method, route
// template, status and duration, never a URL, header or body.
//
// # What the simulator enforces
//
// A team must see in tests what PKB will do in production. With the section
// of docs/pkb-api.md each rule comes from:
//
//   - Privacy labels (§3.7, §2.4, §2.5), on Facade searches and reads,
//     Aggregated searches and reads and the REST API's measurements; the
//     Customer endpoint is the customer's own store and applies none. A data
//     point has at most one label, and one without a label (NOT_SET) is seen
//     only by the patient and holders of all four labels. A team sees the
//     labels the patient's Consent grants it and keeps seeing what it added;
//     an organisation (System Client, Customer client) holds the union of
//     its teams' labels. Break-the-glass (POST /json/v2/consents/BTG/{id},
//     then the returned token in a breaktheglass header) shows a
//     professional every label of that patient for 30 minutes, except
//     Conditions, Medications and Appointments. [Policy] states the rules
//     and, from [Simulator.Policy], the seeded grants, teams and authors;
//     [Simulator.SetConsent] and [Simulator.ExpireBreakTheGlass] change them;
//     [Simulator.SetBreakTheGlassEnabled] turns a professional's BTG
//     functionality off, so that break-the-glass answers PKB's 401 for a
//     user who may not (a 401 that is not about the token).
//     What the caller may not see is silently left out of searches (total
//     counts what is left); a read of it answers 403 with NO_CONSENT,
//     NO_ASSOCIATION or SHARING_DISABLED.
//   - Aggregated access control (§2.4): only patients of the caller's
//     organisation (the OrgID of the Customer [Client]), the mandatory
//     patient selector of each type, _count at most 10, and page= links that
//     are server-relative (/aggregated/fhir/...) with first, next and
//     previous.
//   - Facade result caps (§2.1, §8): a search returns at most 60,000
//     Observations, 10,000 DocumentReferences and 1,000 of any other type
//     ([DefaultResultCap]), cut silently; [WithResultCap] makes the cap small
//     enough to see in a test.
//   - Several accounts per NHS number (§8): a Patient search by one returns
//     each account the caller may see ([SeedDuplicateNHSNumber]).
//   - Messaging (§2.2, §5.2): a created or updated patient has what the
//     message sent, trimmed; fields it omits keep their stored value and
//     nothing is invented.
//   - Latency (§4, §8): [WithLatency] (pkb serve --latency facade=2m,...)
//     holds every request of a family, for client timeout tests.
//   - Deviations: [WithDeviations] (pkb serve --deviate ID,...) makes the
//     simulator behave as if the named x-pkb-assumption entries were false
//     (another path, parameter name, response shape, status or access
//     rule), so that pkb verify's probes are seen to fail; [Deviations]
//     lists the ids, one per testable entry.
//
// # Admin endpoints
//
// Under /_sim, answering loopback clients only, and no part of PKB's API:
//
//   - GET /_sim/stats: JSON counters since start ([Stats]): token requests
//     per client type and grant, refresh-token redemptions, reuse detections
//     and the sessions they killed, and API calls by status. With
//     [WithAccessTokenTTL] (pkb serve --access-token-ttl) a fleet of clients
//     sharing one session rotates its refresh token every second or two; a
//     fleet that coordinates correctly shows as many redemptions as
//     rotations and no reuse detection.
//   - POST /_sim/tethered-tokens: a new tethered refresh token (a new
//     session, as a Team Coordinator gets from PKB's web UI) as JSON
//     [TetheredToken], without restarting pkb serve; optional client_id.
//     In Go, [Simulator.IssueTetheredRefreshToken].
//
// # Seeded clients
//
// Unless [WithoutDefaultClients] is given, a new server knows these obviously
// fake clients, all with the secret "not-a-real-secret" ([DefaultClientSecret]):
//
//	type      client id                  scopes / notes
//	user      sandbox-user-client        PATIENT CLINICIAN TEAMCOORD; redirect http://127.0.0.1/callback (any loopback port)
//	tethered  sandbox-tethered-client    SITE; refresh tokens come from IssueTetheredRefreshToken or POST /_sim/tethered-tokens
//	system    sandbox-system-client      "235a397b-1ae8-4755-9c77-1a0e2fbc5314-all"; client_name "pkbtest system client"
//	customer  sandbox-customer-client    email profile; organisation 235a397b-1ae8-4755-9c77-1a0e2fbc5314
//
// The default [Approval] approves as user "pkbtest-patient-1"
// ([DefaultUserID], the patient Alice); [SeedClinicianUserID] is a clinician
// of the default team and [SeedSecondClinicianUserID] one of the second
// team, which Alice has not consented to. The default Team Coordinator for
// tethered tokens is "pkbtest-teamcoord-1" ([DefaultCoordinatorID]).
//
// # What it cannot imitate
//
// Where PKB's behaviour is undocumented the simulator picks the RFC
// 6749/7636 behaviour fosite implements, or a choice marked ASSUMPTION in
// docs/pkb-api.md: authorization codes are single-use, state must be at
// least 8 characters, a refresh revokes the previous access token of the
// session, and session lifetime is absolute from the first grant. It does
// not know which labels PKB gives a questionnaire request (it uses
// NOT_SET, as on PKB's advanced-questionnaire ServiceRequest), whether the
// Facade honours the breaktheglass header (it does here), whether a team
// that added data may open the rest of the record (it may here), whether
// an organisation keeps what it added (it does), nor in which order PKB
// truncates a capped search (the simulator keeps the first results).
// Carers and individual professionals are not callers, so their grants are
// not applied; a resource type whose patient is not in subject, patient or
// an Appointment participant counts as nobody's record. $date-of-last-data-point
// and $status-query ignore labels. There is one Customer store per FHIR
// version for every customer, and the data volumes are small: caps and
// latency are there to make PKB's limits visible, not its performance.
package pkbtest

// Package wrappers gives each PKB OAuth client type exactly the generated
// API clients it may use, on one shared *http.Client:
//
//   - [SystemClient]: Facade and Messaging FHIR (client credentials, X-Org-Public-Id);
//   - [CustomerSystemClient]: Customer FHIR (STU3 or R4) and Aggregated FHIR;
//   - [UserClient]: Facade FHIR and the custom REST API, as a PKB user;
//   - [TetheredClient]: the custom REST API with a team coordinator's SITE grant.
//
// Every request passes one choke point that, before any network I/O (to the
// API or to the token endpoint), resolves the request to an operation of the
// family's OpenAPI document and checks the caller's grant against that
// operation's x-pkb-access list (gen/access), refuses any URL outside the
// configured base URL, then injects the bearer token, Accept and, for the
// System Client, X-Org-Public-Id. A 401 invalidates the token and replays the
// request once when its body can be replayed.
package wrappers

// Package wrappers connects a token source (package authn) to PKB's APIs:
// one client per OAuth client type, holding exactly the endpoint families
// that client type may call, all on one shared *http.Client:
//
//   - [SystemClient]: Facade and Messaging FHIR (client credentials, X-Org-Public-Id);
//   - [CustomerSystemClient]: Customer FHIR (STU3 or R4) and Aggregated FHIR;
//   - [UserClient]: Facade FHIR and the custom REST API, as a PKB user;
//   - [TetheredClient]: the custom REST API with a team coordinator's SITE grant.
//
// The clients take every base URL from the token source's environment
// (authn.Source.Environment), and their families from the family table
// (access.Families): a client type gets the families some operation grants
// it.
//
// Each family is a handle ([Facade], [Messaging], [CustomerSTU3],
// [CustomerR4], [Aggregated], [REST]) with the family's generated client
// (Gen) and its checkpoint ([Family]). Every request of the family passes
// the checkpoint, which, before any network I/O (to the API or to the token
// endpoint), resolves the request to an operation of the family's OpenAPI
// document, checks the caller's grant against that operation's x-pkb-access
// list (gen/access), refuses any URL outside the family's base URL, then
// injects the bearer token, Accept and, for the System Client,
// X-Org-Public-Id. A 401 invalidates the token and replays the request
// once when its body can be replayed.
//
// [Family.Do] sends one operation, named by its operationId, with path
// values, query, allowlisted headers ([CallOption]) and a body; the
// generated clients' requests are resolved by route matching instead.
// [Family.Follow] fetches a link a response gave. [FirstPage] and
// [DecodePage] decode a search's page into typed matches ([Page]), whose
// Pages and All walk the following pages with loop detection and limits.
//
// Typed calls: every operation of every family has one, generated from the
// OpenAPI documents by internal/cmd/opsgen (operations_gen.go), which takes
// and returns what the operation's document declares, and goes through
// [Family.Do] with the operation named:
//
//	p, err := c.Facade.ReadPatient(ctx, id)                        // *stu3.Patient
//	page, err := c.Facade.SearchObservation(ctx, &facade.SearchObservationParams{...}) // *Page[stu3.Observation]
//	out, err := c.Facade.PatientStatusQuery(ctx, &in)              // *stu3.Parameters
//	r, err := c.Messaging.PatientProcessMessage(ctx, &patient)     // Patient or OperationOutcome
//	ms, err := u.REST.ListMeasurementsByType(ctx, ref)             // []restapi.Measurement
//	o, err := wrappers.CustomerR4Read[r4.Observation](ctx, c.CustomerR4, id, nil)
//
// Method names are the operationIds, capitalised (the generated client's
// names without …WithResponse). Path values are strings, in the order of
// the route template; query and header parameters are the generated
// client's Params struct, encoded by its generated request builder, so a
// typed call sends the same bytes as the generated client; a request body
// is the model the document declares, sent with its resourceType set (on a
// copy). A search or history answers its first [Page]. A 2xx body of
// another resourceType is a *ResourceTypeError; an answer the document
// types as one of two resources is a struct with one field per resource
// (e.g. [PatientOrOperationOutcomeSTU3]); an answer without a body gives its
// [Meta]. Operations on a generic /{resourceType} path (the Customer
// families) are generic functions named after the handle and the
// operation (CustomerR4Read, CustomerSTU3Create, ...): the resource type in
// the path is T's, so it cannot disagree with the Go type.
package wrappers

// Package pkb is the Go client for Patients Know Best (PKB), the UK personal
// health record: one typed call per task over PKB's FHIR and REST APIs.
//
// # Getting a client
//
// A token source (package authn) holds the OAuth client's credentials and
// the environment (authn.Sandbox, authn.UKProduction, ...); a client
// (package wrappers) takes every base URL from it. One pair per OAuth
// client type PKB issues:
//
//   - System Client: authn.NewSystemSource, wrappers.NewSystemClient
//     (Facade FHIR STU3, Messaging FHIR);
//   - Customer System Client: authn.NewCustomerSource,
//     wrappers.NewCustomerSystemClient (Customer FHIR STU3 and R4,
//     Aggregated FHIR R4);
//   - User Client: authn.NewUserSource, wrappers.NewUserClient (Facade FHIR
//     and the REST API as a patient or a professional);
//   - Tethered-Token System Client: authn.NewTetheredSource,
//     wrappers.NewTetheredClient (the REST API with a SITE grant).
//
// For example:
//
//	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: id, ClientSecret: secret, Environment: authn.Sandbox})
//	c, err := wrappers.NewSystemClient(src, orgPublicID) // c.Facade, c.Messaging
//
// A client's fields are its endpoint families (c.Facade, c.CustomerR4, ...).
// Every request of a family passes one checkpoint (wrappers.Family) that
// checks the client's grant against the operation's access rule, keeps the
// token on the family's base URL, retries, and turns error answers into
// *wrappers.APIError, before any I/O where a check fails.
//
// # One call per task
//
// The functions of this package are FHIR's interactions, typed by the
// model (gen/fhir/stu3, gen/fhir/r4): the resource type in the URL comes
// from the Go type, and a family of one FHIR release does not accept a
// model of the other (pkb.Read[r4.Patient] on c.Facade does not compile).
//
//	Read, VRead               GET [base]/T/id, GET [base]/T/id/_history/vid
//	Search                    every match across pages, as an iter.Seq2[*T, error]
//	SearchOne                 the one match, or ErrNoMatch or ErrAmbiguous
//	SearchPage, History       one page: matches, total, included resources, next
//	Create                    POST [base]/T
//	CreateIfNoneExist         POST with If-None-Exist: safe to retry
//	Update                    PUT [base]/T/id with If-Match from meta.versionId
//	Delete                    DELETE [base]/T/id
//	NewTransaction, NewBatch  POST [base]/ of a Bundle built with CreateIn, UpdateIn, DeleteIn, ReadIn
//
// Each finds its operation in the family's operation table (access.Find):
// an interaction the family's OpenAPI document does not offer for the type,
// such as a create on the read-only Facade, is an *UnsupportedError
// (ErrUnsupported) before any I/O. Every answer is decoded once, into the
// model; a body of another resourceType is a *wrappers.ResourceTypeError,
// never a half-empty value.
//
// Create, CreateIfNoneExist and Update return the resource as stored and
// the answer's *wrappers.Meta (status: 201 created or 200 found/updated,
// Location, ETag), since what a write did is part of its result; reads
// return the resource alone. wrappers.CallOption values adjust a call:
// wrappers.NoIfMatch, wrappers.IfMatch, wrappers.PreferReturn,
// wrappers.MaxPages, wrappers.MaxResources, wrappers.Header.
//
// The eight everyday tasks, each a runnable example of this package:
//
//  1. Find a patient by NHS number: SearchOne on c.Facade with
//     search.NHSNumber (ExampleSearchOne); several accounts under one
//     number are ErrAmbiguous, not a guess.
//  2. Page through a year of laboratory Observations: Search with a query
//     of checked values from search.Params (ExampleSearch).
//  3. Read a Patient and update it safely: Read, then Update, which sends
//     If-Match (ExampleUpdate).
//  4. Create an Observation idempotently: CreateIfNoneExist on its
//     identifier (ExampleCreateIfNoneExist).
//  5. A transaction of a Patient and an Observation that refers to it:
//     NewTransaction, CreateIn and Ref (ExampleNewTransaction).
//  6. $process-message for a new patient: message.NewPatient and
//     c.Messaging.PatientProcessMessage (Example_processMessage).
//  7. A Customer R4 search with _include: SearchPage and
//     wrappers.IncludedAs (ExampleSearchPage).
//  8. A REST API measurement list: c.REST.ListPatientMeasurements with
//     the restapi types (Example_restMeasurements).
//
// PKB's named operations ($status-query, $purview, $process-message, ...)
// and the REST API calls are not FHIR interactions: each has a typed call
// generated from the documents (package wrappers, e.g.
// Messaging.PatientProcessMessage, REST.ListPatientMeasurements);
// wrappers.Send sends any operation of a family by its operationId and
// decodes the answer into a typed value, once; the generated clients (the
// handles' Gen field, packages under gen/) remain underneath for
// everything else.
//
// # Packages
//
//   - authn: token sources, one per client type, with the environment;
//     token stores for several replicas.
//   - wrappers: the clients, the family checkpoint (Family.Do, Follow,
//     Permit), Send, the pager (Page, IncludedAs, IncludedOf), call
//     options and the errors.
//   - search: FHIR search values that cannot be written wrong (tokens,
//     dates with prefixes, references) and their check against PKB's
//     documents.
//   - message: PKB's patient messages ($process-message bodies, the
//     asynchronous message Bundle, the inbound handler).
//   - nationalid: national identifier systems and checks (NHS number).
//   - gen/...: the generated models and clients; gen/access: the family
//     and operation tables every check reads.
//   - pkbtest (a module of its own): an offline simulator of PKB with a
//     real OAuth server, for tests.
//
// # Errors
//
// Refusals before any I/O: *UnsupportedError (ErrUnsupported),
// wrappers.ErrNotPermitted (the client's grant), wrappers.ErrInvalidCall
// (a path value that is not one segment, a missing id),
// wrappers.ErrMissingParameter, wrappers.ErrUnsafeURL. Answers:
// *wrappers.APIError (status, PKB's response code, the OperationOutcome;
// wrappers.IsNotFound and friends), *wrappers.ResourceTypeError,
// wrappers.ErrPageLimit and wrappers.ErrPageLoop from a search, ErrNoMatch
// and ErrAmbiguous from SearchOne, and from a
// batch *BatchError and *EntryError naming each failed entry.
// ErrResponseShape is a transaction or batch response that does not
// answer the Bundle sent. Error strings never hold patient data or tokens:
// they name routes, types and parameters; the server's words are in the
// error's fields.
package pkb

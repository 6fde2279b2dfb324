// Package openapi holds PKB's endpoint-family OpenAPI documents and the FHIR
// schema documents they reference. The files are the source of truth for the
// generated clients in gen/; the tests here keep them valid and within the
// rules of CONVENTIONS.md.
package openapi

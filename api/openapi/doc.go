// Package openapi holds PKB's endpoint-family OpenAPI documents and the FHIR
// schema documents they reference. The files are the source of truth for the
// generated clients in gen/; the tests here keep them valid and within the
// rules of CONVENTIONS.md.
package openapi

import "embed"

// FS holds the endpoint-family documents (*.yaml), the FHIR schema documents
// they reference (fhir-*.json) and PKB's published Facade CapabilityStatement
// (source/facade-capabilitystatement.json), for tools such as the offline
// simulator that validate traffic against them. Client packages do not import
// this package, so importers never carry these files.
//
//go:embed *.yaml fhir-stu3.json fhir-r4.json source/facade-capabilitystatement.json
var FS embed.FS

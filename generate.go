// This file is the generation chain, run by `go generate` (or `make
// generate`) from the repository root. The order matters: the converter
// writes the FHIR schema documents, the model packages are generated from
// them, and the client packages import the models. (The package
// documentation is in doc.go.)

package pkb

// 1. HL7 FHIR JSON Schemas -> OpenAPI components documents.
//go:generate go run ./internal/cmd/fhir2oas -in api/openapi/source/stu3/fhir.schema.json -out api/openapi/fhir-stu3.json -fhir 3.0.1
//go:generate go run ./internal/cmd/fhir2oas -in api/openapi/source/r4/fhir.schema.json -out api/openapi/fhir-r4.json -fhir 4.0.1

// 1b. The Aggregated document, generated from its handwritten input and HL7's
// R4 SearchParameter definitions (every core parameter of every aggregated type).
//go:generate go run ./internal/cmd/aggregatedgen -in api/openapi/source/aggregated.in.yaml -hl7 internal/cmd/searchgen/hl7/r4.json -out api/openapi/aggregated.yaml

// 2. Shared FHIR models, one package per FHIR version.
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/fhir-stu3.yaml api/openapi/fhir-stu3.json
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/fhir-r4.yaml api/openapi/fhir-r4.json

// 2a. Beside each model package, resource.gen.go: the release marker
// (Version), the Resource interface and on every ResourceList member the
// methods FHIRType, FHIRVersion, DeclaredType, StampType and Identity.
//go:generate go run ./internal/cmd/resourcegen -doc api/openapi/fhir-stu3.json -models gen/fhir/stu3/fhir.gen.go -out gen/fhir/stu3/resource.gen.go
//go:generate go run ./internal/cmd/resourcegen -doc api/openapi/fhir-r4.json -models gen/fhir/r4/fhir.gen.go -out gen/fhir/r4/resource.gen.go

// 3. One client package per endpoint family.
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/facade.yaml api/openapi/facade.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/messaging.yaml api/openapi/messaging.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/customer-stu3.yaml api/openapi/customer-stu3.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/customer-r4.yaml api/openapi/customer-r4.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/aggregated.yaml api/openapi/aggregated.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/openapi/config/restapi.yaml api/openapi/restapi.yaml

// 4. The family and operation tables (gen/access): each document's
// x-pkb-family block, each operation's x-pkb-access grants and FHIR interaction.
//go:generate go run ./internal/cmd/accessgen -out gen/access/access.gen.go api/openapi/facade.yaml api/openapi/messaging.yaml api/openapi/customer-stu3.yaml api/openapi/customer-r4.yaml api/openapi/aggregated.yaml api/openapi/restapi.yaml

// 4b. The assumption table (internal/assumptions): every x-pkb-assumption entry
// of the documents with its probe, and the probe-value catalogue.
//go:generate go run ./internal/cmd/assumptiongen -values api/openapi/source/probe-values.yaml -out internal/assumptions/table.gen.go api/openapi/facade.yaml api/openapi/messaging.yaml api/openapi/customer-stu3.yaml api/openapi/customer-r4.yaml api/openapi/aggregated.yaml api/openapi/restapi.yaml

// 5. The search-parameter table (search/spec_gen.go) from each parameter's
// x-fhir-search extension, joined with HL7's definitions.
//go:generate go run ./internal/cmd/searchgen -out search/spec_gen.go -hl7 stu3=internal/cmd/searchgen/hl7/stu3.json -hl7 r4=internal/cmd/searchgen/hl7/r4.json facade:stu3=api/openapi/facade.yaml aggregated:r4=api/openapi/aggregated.yaml customer-stu3:stu3=api/openapi/customer-stu3.yaml customer-r4:r4=api/openapi/customer-r4.yaml

// 5b. The typed call of every operation (wrappers/operations_gen.go), from the
// operation table, the documents' summaries and the generated clients' types.
//go:generate go run ./internal/cmd/opsgen -out wrappers/operations_gen.go api/openapi/facade.yaml api/openapi/messaging.yaml api/openapi/customer-stu3.yaml api/openapi/customer-r4.yaml api/openapi/aggregated.yaml api/openapi/restapi.yaml

// 6. The exported Go API of the client packages (the root package pkb too), committed so that a pull
// request shows renamed or removed identifiers next to the spec change.
//go:generate go run ./internal/cmd/apisurface -out api/go-api . gen/... wrappers authn search message nationalid

// 7. LAST: the manifest of every source document and generator (version and
// sha256), so that make check-generated names a source edited without regeneration.
//go:generate go run ./internal/cmd/manifest

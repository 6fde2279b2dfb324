module github.com/pkbgo/pkb/bench

go 1.26.0

require (
	github.com/google/fhir/go v0.7.4
	github.com/pkbgo/pkb v0.0.0
)

require (
	bitbucket.org/creachadair/stringset v0.0.9 // indirect
	github.com/apapsch/go-jsonmerge/v2 v2.0.0 // indirect
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/golang/protobuf v1.4.3 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/json-iterator/go v1.1.10 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.1 // indirect
	github.com/oapi-codegen/runtime v1.9.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/samber/lo v1.53.0 // indirect
	github.com/serenize/snaker v0.0.0-20201027110005-a7ad2135616e // indirect
	golang.org/x/oauth2 v0.38.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/protobuf v1.25.0 // indirect
)

// The benchmarks measure the working tree's generated models, not a release.
replace github.com/pkbgo/pkb => ../

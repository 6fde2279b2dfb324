//go:build tools

// This file pins the code generators that generate.go runs, so that
// `go generate` uses the versions recorded in go.mod and go.sum.

package pkb

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)

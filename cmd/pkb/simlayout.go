package main

import (
	"strings"

	"github.com/pkbgo/pkb/authn"
)

// simEnvironment is the authn.Environment of a pkbtest simulator at base,
// for --base-url. The mount points are those the Simulator documents; a
// test checks this against Simulator.Environment so that the two cannot
// drift apart.
func simEnvironment(base string) authn.Environment {
	base = strings.TrimRight(base, "/")
	return authn.Environment{
		Name:             "pkbtest",
		UserAuthorizeURL: base + "/apiAuthorize.action",
		UserTokenURL:     base + "/apiToken.action",
		SystemTokenURL:   base + "/api/oauth/token",
		CustomerTokenURL: base + "/auth/realms/pkb/protocol/openid-connect/token",
		FacadeURL:        base + "/fhir",
		MessagingURL:     base + "/phr-fhir",
		RESTURL:          base + "/json",
		AggregatedURL:    base + "/aggregated/fhir",
	}
}

// simCustomerURL is the simulator's Customer FHIR endpoint for a FHIR
// version ("stu3" or "r4"); the simulator serves customers under paths
// rather than sub-domains, each ending in /fhir like PKB's customer bases.
func simCustomerURL(base, fhirVersion string) string {
	return strings.TrimRight(base, "/") + "/customer/" + fhirVersion + "/fhir"
}

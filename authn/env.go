package authn

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
)

// Environment lists every URL a PKB client needs for one PKB deployment.
//
// The values are plain strings rather than a closed enum because PKB has
// environments this package does not know (EU production, the N3 sandbox)
// and because tests point them at local servers. Copy [Sandbox] or
// [UKProduction] and override the fields you need.
type Environment struct {
	// Name is for humans and logs only.
	Name string

	// UserAuthorizeURL is where a User Client sends the browser
	// (apiAuthorize.action).
	UserAuthorizeURL string
	// UserTokenURL is apiToken.action, used by User Clients and by
	// Tethered-Token System Clients.
	UserTokenURL string
	// SystemTokenURL is the client-credentials endpoint for the Facade and
	// Messaging FHIR APIs.
	SystemTokenURL string
	// CustomerTokenURL is the Keycloak client-credentials endpoint for the
	// Customer and Aggregated FHIR APIs. Its tokens are not accepted by the
	// Facade or Messaging APIs, and vice versa.
	CustomerTokenURL string

	// FacadeURL is the base of the Facade FHIR API.
	FacadeURL string
	// MessagingURL is the base of the Messaging FHIR API.
	MessagingURL string
	// RESTURL is the base of the JSON mount of the legacy Custom REST API.
	RESTURL string
	// AggregatedURL is the base of the Aggregated FHIR API.
	AggregatedURL string
	// CustomerURLTemplate is the base of the Customer FHIR API with the
	// placeholder {customer} (exactly once) where the customer's name goes,
	// e.g. "https://{customer}.fhir-api.sandbox.patientsknowbest.com/fhir";
	// see [Environment.CustomerURL].
	CustomerURLTemplate string
}

// Sandbox is PKB's public UK sandbox. All URLs are documented by PKB
// (docs/pkb-api.md §1.2), including the Customer FHIR base path /fhir on each
// customer's host.
var Sandbox = Environment{
	Name:                "sandbox",
	UserAuthorizeURL:    "https://sandbox.patientsknowbest.com/apiAuthorize.action",
	UserTokenURL:        "https://sandbox.patientsknowbest.com/apiToken.action",
	SystemTokenURL:      "https://oauth2.sandbox.patientsknowbest.com/api/oauth/token",
	CustomerTokenURL:    "https://iam.sandbox.patientsknowbest.com/auth/realms/pkb/protocol/openid-connect/token",
	FacadeURL:           "https://sandbox.patientsknowbest.com/fhir",
	MessagingURL:        "https://sandbox.patientsknowbest.com/phr-fhir",
	RESTURL:             "https://sandbox.patientsknowbest.com/json",
	AggregatedURL:       "https://aggregated-fhir.sandbox.patientsknowbest.com/fhir",
	CustomerURLTemplate: "https://{customer}.fhir-api.sandbox.patientsknowbest.com/fhir",
}

// UKProduction is PKB's UK production environment.
//
// ASSUMPTION: only the host my.patientsknowbest.com is documented. The token
// hosts oauth2.patientsknowbest.com and iam.patientsknowbest.com, the
// aggregated-fhir.patientsknowbest.com and fhir-api.patientsknowbest.com
// hosts, and the paths on my.patientsknowbest.com are the sandbox pattern with
// "sandbox." removed (docs/pkb-api.md §6.1-2). Confirm them with PKB before going live
// and override any that differ.
var UKProduction = Environment{
	Name:                "uk-production",
	UserAuthorizeURL:    "https://my.patientsknowbest.com/apiAuthorize.action",
	UserTokenURL:        "https://my.patientsknowbest.com/apiToken.action",
	SystemTokenURL:      "https://oauth2.patientsknowbest.com/api/oauth/token",
	CustomerTokenURL:    "https://iam.patientsknowbest.com/auth/realms/pkb/protocol/openid-connect/token",
	FacadeURL:           "https://my.patientsknowbest.com/fhir",
	MessagingURL:        "https://my.patientsknowbest.com/phr-fhir",
	RESTURL:             "https://my.patientsknowbest.com/json",
	AggregatedURL:       "https://aggregated-fhir.patientsknowbest.com/fhir",
	CustomerURLTemplate: "https://{customer}.fhir-api.patientsknowbest.com/fhir",
}

// customerPlaceholder is what CustomerURLTemplate holds where the
// customer's name goes.
const customerPlaceholder = "{customer}"

// customerLabel is one DNS label. Anything looser would let a customer name
// such as "evil.example/x#" move the bearer token to another host.
var customerLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CustomerURL returns the base URL of the Customer FHIR API for the customer
// PKB named: CustomerURLTemplate with {customer} replaced, e.g. "acme" gives
// https://acme.fhir-api.sandbox.patientsknowbest.com/fhir in the sandbox,
// the customer's host plus /fhir as PKB's "Customer: Examples" page calls it
// (docs/pkb-api.md §1.2); the bare host answers nothing PKB documents. The
// name must be a single lower-case DNS label, so that a name taken from
// configuration cannot redirect tokens to another host, and the template
// must hold {customer} exactly once and give an https URL (plain http only
// to a loopback host, such as a local simulator).
func (e Environment) CustomerURL(customer string) (string, error) {
	const field = "Environment.CustomerURLTemplate"
	switch n := strings.Count(e.CustomerURLTemplate, customerPlaceholder); {
	case e.CustomerURLTemplate == "":
		return "", &ConfigError{Field: field, Reason: "is empty", Err: ErrInvalidConfig}
	case n != 1:
		return "", &ConfigError{Field: field, Reason: "must contain " + customerPlaceholder + " exactly once", Err: ErrInvalidConfig}
	}
	if !customerLabel.MatchString(customer) {
		return "", &ConfigError{Field: "customer", Reason: fmt.Sprintf("%q is not a lower-case DNS label", customer), Err: ErrInvalidConfig}
	}
	u := strings.Replace(e.CustomerURLTemplate, customerPlaceholder, customer, 1)
	if err := checkURL(field, u); err != nil {
		return "", err
	}
	return u, nil
}

// BaseURL returns the base URL of endpoint family f in this environment:
// the field the family table names (access.FamilyInfo.EnvField), or, for
// the Customer families, CustomerURL(customer). customer is ignored for the
// other families. The URL must be https, or plain http to a loopback host.
func (e Environment) BaseURL(f access.Family, customer string) (string, error) {
	info, ok := access.FamilyByID(f)
	if !ok {
		return "", &ConfigError{Field: "family", Reason: fmt.Sprintf("%q is not an endpoint family", string(f)), Err: ErrInvalidConfig}
	}
	if info.EnvField == "CustomerURLTemplate" {
		return e.CustomerURL(customer)
	}
	v := reflect.ValueOf(e).FieldByName(info.EnvField)
	if !v.IsValid() || v.Kind() != reflect.String {
		// The family table and this struct disagree: a generator bug that
		// TestBaseURLOfEveryFamily catches.
		return "", &ConfigError{Field: "Environment." + info.EnvField, Reason: "is not a field of authn.Environment", Err: ErrInvalidConfig}
	}
	field := "Environment." + info.EnvField
	if v.String() == "" {
		return "", &ConfigError{Field: field, Reason: "is empty", Err: ErrInvalidConfig}
	}
	if err := checkURL(field, v.String()); err != nil {
		return "", err
	}
	return v.String(), nil
}

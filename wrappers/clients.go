package wrappers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	customerstu3 "github.com/pkbgo/pkb/gen/customer/stu3"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/messaging"
	"github.com/pkbgo/pkb/gen/restapi"
)

// SystemClient calls the Facade and Messaging FHIR APIs as a System Client
// (client credentials), acting for one PKB organisation.
type SystemClient struct {
	// Facade is PKB's read-only FHIR STU3 API with PKB's custom operations.
	Facade *facade.ClientWithResponses
	// Messaging creates, updates and invites patients.
	Messaging *messaging.ClientWithResponses
}

// NewSystemClient returns a System Client. src must come from
// [authn.NewSystemClient]; orgPublicID is the PKB organisation the system acts
// for, sent as X-Org-Public-Id on every call.
func NewSystemClient(src authn.Source, orgPublicID string, opts ...Option) (*SystemClient, error) {
	if err := checkSource(src, authn.ClientSystem); err != nil {
		return nil, err
	}
	if orgPublicID == "" || strings.ContainsAny(orgPublicID, "\r\n") {
		return nil, errors.New("pkb: a System Client needs the organisation's public id (X-Org-Public-Id)")
	}
	cfg := newConfig(opts)
	p := cfg.pipeline(src, orgPublicID)
	c := &SystemClient{}
	var err error
	if c.Facade, err = newFamily(p, access.FamilyFacade, cfg.env.FacadeURL, mediaFHIR, facade.NewClientWithResponses, facade.WithHTTPClient); err != nil {
		return nil, err
	}
	if c.Messaging, err = newFamily(p, access.FamilyMessaging, cfg.env.MessagingURL, mediaFHIR, messaging.NewClientWithResponses, messaging.WithHTTPClient); err != nil {
		return nil, err
	}
	return c, nil
}

// CustomerSystemClient calls a Customer FHIR endpoint and the Aggregated FHIR
// API with a Customer System Client's token (PKB's Keycloak realm).
type CustomerSystemClient struct {
	// CustomerSTU3 and CustomerR4 both address the customer's endpoint; use
	// the one matching the FHIR version PKB configured for it.
	CustomerSTU3 *customerstu3.ClientWithResponses
	// CustomerR4 is the R4 view of the same endpoint.
	CustomerR4 *customerr4.ClientWithResponses
	// Aggregated is PKB's read-only R4 API across sources.
	Aggregated *aggregated.ClientWithResponses
}

// NewCustomerSystemClient returns a Customer System Client. src must come
// from [authn.NewCustomerClient]; customerURL is the customer's endpoint, for
// example from [authn.Environment.CustomerURL].
func NewCustomerSystemClient(src authn.Source, customerURL string, opts ...Option) (*CustomerSystemClient, error) {
	if err := checkSource(src, authn.ClientCustomer); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	p := cfg.pipeline(src, "")
	c := &CustomerSystemClient{}
	var err error
	if c.CustomerSTU3, err = newFamily(p, access.FamilyCustomerSTU3, customerURL, mediaFHIR, customerstu3.NewClientWithResponses, customerstu3.WithHTTPClient); err != nil {
		return nil, err
	}
	if c.CustomerR4, err = newFamily(p, access.FamilyCustomerR4, customerURL, mediaFHIR, customerr4.NewClientWithResponses, customerr4.WithHTTPClient); err != nil {
		return nil, err
	}
	if c.Aggregated, err = newFamily(p, access.FamilyAggregated, cfg.env.AggregatedURL, mediaFHIR, aggregated.NewClientWithResponses, aggregated.WithHTTPClient); err != nil {
		return nil, err
	}
	return c, nil
}

// UserClient calls the Facade FHIR API and the custom REST API for a PKB
// user who authorised the application (authorization code grant).
type UserClient struct {
	// Facade is PKB's FHIR STU3 API; operations are limited by the user type.
	Facade *facade.ClientWithResponses
	// REST is PKB's legacy custom REST API.
	REST *restapi.ClientWithResponses
}

// NewUserClient returns a User Client. src must come from [authn.NewUserClient].
func NewUserClient(src authn.Source, opts ...Option) (*UserClient, error) {
	if err := checkSource(src, authn.ClientUser); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	p := cfg.pipeline(src, "")
	c := &UserClient{}
	var err error
	if c.Facade, err = newFamily(p, access.FamilyFacade, cfg.env.FacadeURL, mediaFHIR, facade.NewClientWithResponses, facade.WithHTTPClient); err != nil {
		return nil, err
	}
	if c.REST, err = newFamily(p, access.FamilyRESTAPI, cfg.env.RESTURL, mediaJSON, restapi.NewClientWithResponses, restapi.WithHTTPClient); err != nil {
		return nil, err
	}
	return c, nil
}

// TetheredClient calls the custom REST API with the rights a team
// coordinator granted (scope SITE: CLINICIAN and TEAMCOORD operations).
type TetheredClient struct {
	// REST is PKB's legacy custom REST API.
	REST *restapi.ClientWithResponses
}

// NewTetheredClient returns a Tethered-Token System Client. src must come
// from [authn.NewTetheredClient].
func NewTetheredClient(src authn.Source, opts ...Option) (*TetheredClient, error) {
	if err := checkSource(src, authn.ClientTethered); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	p := cfg.pipeline(src, "")
	rest, err := newFamily(p, access.FamilyRESTAPI, cfg.env.RESTURL, mediaJSON, restapi.NewClientWithResponses, restapi.WithHTTPClient)
	if err != nil {
		return nil, err
	}
	return &TetheredClient{REST: rest}, nil
}

func checkSource(src authn.Source, want authn.ClientType) error {
	if src == nil {
		return fmt.Errorf("pkb: a %s client needs a token source", want)
	}
	if got, _ := src.Grant(); got != want {
		return fmt.Errorf("pkb: a %s client needs a %s token source, got %s", want, want, got)
	}
	return nil
}

// newFamily builds one generated client on the shared pipeline. The type
// parameters let one function serve every generated package, whose option
// and doer types are distinct but identical in shape.
func newFamily[C, O, D any](
	p *pipeline, family access.Family, rawBase, accept string,
	newClient func(string, ...O) (C, error), withDoer func(D) O,
) (C, error) {
	var zero C
	base, err := checkBaseURL(family, rawBase)
	if err != nil {
		return zero, err
	}
	d := &doer{p: p, ep: endpoint{family: family, base: base, router: newRouter(family), accept: accept}}
	doerAsD, ok := any(d).(D)
	if !ok {
		return zero, fmt.Errorf("pkb: internal error: doer does not implement %T", *new(D))
	}
	return newClient(base.String()+"/", withDoer(doerAsD))
}

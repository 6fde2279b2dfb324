package wrappers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	customerstu3 "github.com/pkbgo/pkb/gen/customer/stu3"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/messaging"
	"github.com/pkbgo/pkb/gen/restapi"
)

// Facade is PKB's Facade FHIR STU3 API (read-only, with PKB's operations
// such as $status-query) as one client sees it.
type Facade struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *facade.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *Facade) Family() *Family { return h.fam }

// FHIRVersion returns the STU3 marker: the family serves stu3 models.
func (h *Facade) FHIRVersion() stu3.Version { return stu3.Version{} }

// Messaging is PKB's Messaging FHIR STU3 API, which creates, updates and
// invites patients ($process-message).
type Messaging struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *messaging.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *Messaging) Family() *Family { return h.fam }

// FHIRVersion returns the STU3 marker: the family serves stu3 models.
func (h *Messaging) FHIRVersion() stu3.Version { return stu3.Version{} }

// CustomerSTU3 is a customer's Customer FHIR endpoint, for a customer PKB
// configured for FHIR STU3.
type CustomerSTU3 struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *customerstu3.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *CustomerSTU3) Family() *Family { return h.fam }

// FHIRVersion returns the STU3 marker: the family serves stu3 models.
func (h *CustomerSTU3) FHIRVersion() stu3.Version { return stu3.Version{} }

// CustomerR4 is a customer's Customer FHIR endpoint, for a customer PKB
// configured for FHIR R4.
type CustomerR4 struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *customerr4.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *CustomerR4) Family() *Family { return h.fam }

// FHIRVersion returns the R4 marker: the family serves r4 models.
func (h *CustomerR4) FHIRVersion() r4.Version { return r4.Version{} }

// Aggregated is PKB's read-only Aggregated FHIR R4 API, across sources.
type Aggregated struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *aggregated.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *Aggregated) Family() *Family { return h.fam }

// FHIRVersion returns the R4 marker: the family serves r4 models.
func (h *Aggregated) FHIRVersion() r4.Version { return r4.Version{} }

// REST is PKB's legacy custom REST API (JSON, not FHIR).
type REST struct {
	fam *Family
	// Gen is the generated client of the family; its requests pass the
	// same checkpoint.
	Gen *restapi.ClientWithResponses
}

// Family returns the family's checkpoint.
func (h *REST) Family() *Family { return h.fam }

// SystemClient calls the Facade and Messaging FHIR APIs as a System Client
// (client credentials), acting for one PKB organisation.
type SystemClient struct {
	// Facade is PKB's read-only FHIR STU3 API with PKB's custom operations.
	Facade *Facade
	// Messaging creates, updates and invites patients.
	Messaging *Messaging
}

// NewSystemClient returns a System Client. src must come from
// [authn.NewSystemSource], whose environment gives the base URLs;
// orgPublicID is the PKB organisation the system acts for, sent as
// X-Org-Public-Id on every call.
func NewSystemClient(src authn.Source, orgPublicID string, opts ...Option) (*SystemClient, error) {
	if orgPublicID == "" || strings.ContainsAny(orgPublicID, "\r\n") {
		return nil, errors.New("pkb: a System Client needs the organisation's public id (X-Org-Public-Id)")
	}
	c := &SystemClient{}
	err := newClient(src, authn.ClientSystem, orgPublicID, "", opts, func(f *Family) (err error) {
		switch f.ep.family {
		case access.FamilyFacade:
			c.Facade, err = newFacade(f)
		case access.FamilyMessaging:
			c.Messaging, err = newMessaging(f)
		default:
			return errNoHandle
		}
		return err
	})
	if err == nil && (c.Facade == nil || c.Messaging == nil) {
		err = errIncomplete(authn.ClientSystem)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CustomerSystemClient calls a customer's Customer FHIR endpoint and the
// Aggregated FHIR API with a Customer System Client's token (PKB's Keycloak
// realm).
type CustomerSystemClient struct {
	// CustomerSTU3 and CustomerR4 both address the customer's endpoint; use
	// the one matching the FHIR version PKB configured for it.
	CustomerSTU3 *CustomerSTU3
	// CustomerR4 is the R4 view of the same endpoint.
	CustomerR4 *CustomerR4
	// Aggregated is PKB's read-only R4 API across sources.
	Aggregated *Aggregated
}

// NewCustomerSystemClient returns a Customer System Client for the customer
// PKB named (a lower-case DNS label such as "acme"). src must come from
// [authn.NewCustomerSource]; the customer's endpoint is
// src.Environment().CustomerURL(customer), the Aggregated API its
// AggregatedURL.
func NewCustomerSystemClient(src authn.Source, customer string, opts ...Option) (*CustomerSystemClient, error) {
	c := &CustomerSystemClient{}
	err := newClient(src, authn.ClientCustomer, "", customer, opts, func(f *Family) (err error) {
		switch f.ep.family {
		case access.FamilyCustomerSTU3:
			c.CustomerSTU3, err = newCustomerSTU3(f)
		case access.FamilyCustomerR4:
			c.CustomerR4, err = newCustomerR4(f)
		case access.FamilyAggregated:
			c.Aggregated, err = newAggregated(f)
		default:
			return errNoHandle
		}
		return err
	})
	if err == nil && (c.CustomerSTU3 == nil || c.CustomerR4 == nil || c.Aggregated == nil) {
		err = errIncomplete(authn.ClientCustomer)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UserClient calls the Facade FHIR API and the custom REST API for a PKB
// user who authorised the application (authorization code grant).
type UserClient struct {
	// Facade is PKB's FHIR STU3 API; operations are limited by the user type.
	Facade *Facade
	// REST is PKB's legacy custom REST API.
	REST *REST
}

// NewUserClient returns a User Client. src must come from
// [authn.NewUserSource], whose environment gives the base URLs.
func NewUserClient(src authn.Source, opts ...Option) (*UserClient, error) {
	c := &UserClient{}
	err := newClient(src, authn.ClientUser, "", "", opts, func(f *Family) (err error) {
		switch f.ep.family {
		case access.FamilyFacade:
			c.Facade, err = newFacade(f)
		case access.FamilyRESTAPI:
			c.REST, err = newREST(f)
		default:
			return errNoHandle
		}
		return err
	})
	if err == nil && (c.Facade == nil || c.REST == nil) {
		err = errIncomplete(authn.ClientUser)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// TetheredClient calls the custom REST API with the rights a team
// coordinator granted (scope SITE: CLINICIAN and TEAMCOORD operations).
type TetheredClient struct {
	// REST is PKB's legacy custom REST API.
	REST *REST
}

// NewTetheredClient returns a Tethered-Token System Client. src must come
// from [authn.NewTetheredSource], whose environment gives the base URL.
func NewTetheredClient(src authn.Source, opts ...Option) (*TetheredClient, error) {
	c := &TetheredClient{}
	err := newClient(src, authn.ClientTethered, "", "", opts, func(f *Family) (err error) {
		if f.ep.family != access.FamilyRESTAPI {
			return errNoHandle
		}
		c.REST, err = newREST(f)
		return err
	})
	if err == nil && c.REST == nil {
		err = errIncomplete(authn.ClientTethered)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// newClient builds, on one pipeline, a checkpoint for every family the
// family table grants client type ct, with the base URL src's environment
// gives it, and hands each to attach, which makes it a handle of the
// client. A family the table grants ct that attach has no handle for
// (errNoHandle), and a handle no family filled (errIncomplete), mean the
// table and this package disagree: an error, never a client with a nil
// field or a missing check.
func newClient(src authn.Source, ct authn.ClientType, orgID, customer string, opts []Option, attach func(*Family) error) error {
	if err := checkSource(src, ct); err != nil {
		return err
	}
	cfg := newConfig(opts)
	env := src.Environment()
	p := cfg.pipeline(src, orgID)
	for _, info := range access.Families() {
		if !slices.Contains(info.ClientTypes, string(ct)) {
			continue
		}
		raw, err := env.BaseURL(info.ID, customer)
		if err != nil {
			return fmt.Errorf("pkb: %s base URL: %w", info.ID, err)
		}
		base, err := checkBaseURL(info.ID, raw)
		if err != nil {
			return err
		}
		if err := attach(newFamily(p, info, base)); err != nil {
			if errors.Is(err, errNoHandle) {
				return fmt.Errorf("pkb: internal error: the family table grants %s clients the %s API, which this package's client lacks", ct, info.ID)
			}
			return err
		}
	}
	return nil
}

// errNoHandle is attach's answer for a family its client has no handle for.
var errNoHandle = errors.New("no handle for this family")

func errIncomplete(ct authn.ClientType) error {
	return fmt.Errorf("pkb: internal error: the family table grants %s clients fewer APIs than this package's client has", ct)
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

// The handle constructors: a family's checkpoint and its generated client
// on it.

func newFacade(f *Family) (h *Facade, err error) {
	h = &Facade{fam: f}
	h.Gen, err = newGen(f, facade.NewClientWithResponses, facade.WithHTTPClient)
	return h, err
}

func newMessaging(f *Family) (h *Messaging, err error) {
	h = &Messaging{fam: f}
	h.Gen, err = newGen(f, messaging.NewClientWithResponses, messaging.WithHTTPClient)
	return h, err
}

func newCustomerSTU3(f *Family) (h *CustomerSTU3, err error) {
	h = &CustomerSTU3{fam: f}
	h.Gen, err = newGen(f, customerstu3.NewClientWithResponses, customerstu3.WithHTTPClient)
	return h, err
}

func newCustomerR4(f *Family) (h *CustomerR4, err error) {
	h = &CustomerR4{fam: f}
	h.Gen, err = newGen(f, customerr4.NewClientWithResponses, customerr4.WithHTTPClient)
	return h, err
}

func newAggregated(f *Family) (h *Aggregated, err error) {
	h = &Aggregated{fam: f}
	h.Gen, err = newGen(f, aggregated.NewClientWithResponses, aggregated.WithHTTPClient)
	return h, err
}

func newREST(f *Family) (h *REST, err error) {
	h = &REST{fam: f}
	h.Gen, err = newGen(f, restapi.NewClientWithResponses, restapi.WithHTTPClient)
	return h, err
}

// newGen builds the generated client of a family on its checkpoint. The
// type parameters let one function serve every generated package, whose
// option and doer types are distinct but identical in shape.
func newGen[C, O, D any](f *Family, newClient func(string, ...O) (C, error), withDoer func(D) O) (C, error) {
	var zero C
	d, ok := any(genDoer{f}).(D)
	if !ok {
		return zero, fmt.Errorf("pkb: internal error: genDoer does not implement %T", *new(D))
	}
	return newClient(f.ep.base.String()+"/", withDoer(d))
}

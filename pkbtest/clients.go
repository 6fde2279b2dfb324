package pkbtest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ory/fosite"
)

// ClientType is the kind of PKB API client (docs/pkb-api.md §3.1). It decides which
// token endpoint a client may use, which grant it uses and the default
// access-token lifespan.
type ClientType string

const (
	// ClientTypeUser is a User Client: authorization code (+ refresh) at
	// /apiToken.action, acting for the PKB user who approved.
	ClientTypeUser ClientType = "user"
	// ClientTypeSystem is a System Client: client_credentials with HTTP Basic
	// at /api/oauth/token (Facade and Messaging FHIR).
	ClientTypeSystem ClientType = "system"
	// ClientTypeCustomer is a Customer System Client: client_credentials at
	// the Keycloak realm token endpoint (Customer and Aggregated FHIR).
	ClientTypeCustomer ClientType = "customer"
	// ClientTypeTethered is a Tethered-Token System Client: refresh_token
	// grant with scope=SITE at /apiToken.action, starting from a refresh
	// token a Team Coordinator issued.
	ClientTypeTethered ClientType = "tethered"
)

// PKB user-client scopes (user types) and the tethered scope.
const (
	// ScopePatient is the User Client scope for patients.
	ScopePatient = "PATIENT"
	// ScopeClinician is the User Client scope for professionals.
	ScopeClinician = "CLINICIAN"
	// ScopeTeamCoord is the User Client scope for team coordinators.
	ScopeTeamCoord = "TEAMCOORD"
	// ScopeSite is the only scope a Tethered-Token System Client may use.
	ScopeSite = "SITE"
)

// Seeded client ids, secrets and users (see the package documentation).
const (
	// DefaultClientSecret is the secret of every seeded client.
	DefaultClientSecret = "not-a-real-secret"
	// DefaultUserClientID is the seeded User Client.
	DefaultUserClientID = "sandbox-user-client"
	// DefaultUserClientRedirectURI is the seeded User Client's registered
	// redirect URI; any port on the same loopback host and path is accepted.
	DefaultUserClientRedirectURI = "http://127.0.0.1/callback"
	// DefaultTetheredClientID is the seeded Tethered-Token System Client.
	DefaultTetheredClientID = "sandbox-tethered-client"
	// DefaultSystemClientID is the seeded System Client.
	DefaultSystemClientID = "sandbox-system-client"
	// DefaultSystemClientName is the client_name the seeded System Client's
	// tokens report.
	DefaultSystemClientName = "pkbtest system client"
	// DefaultSystemOrgID is the organisation UUID of the seeded System Client;
	// its tokens carry scope DefaultSystemOrgID+"-all".
	DefaultSystemOrgID = "235a397b-1ae8-4755-9c77-1a0e2fbc5314"
	// DefaultCustomerClientID is the seeded Customer System Client.
	DefaultCustomerClientID = "sandbox-customer-client"
	// DefaultUserID is the PKB user the default Approval approves as.
	DefaultUserID = "pkbtest-patient-1"
	// DefaultCoordinatorID is a Team Coordinator user id for tethered tokens.
	DefaultCoordinatorID = "pkbtest-teamcoord-1"
)

// Client describes an API client registered with the server.
type Client struct {
	// ID is the client id.
	ID string
	// Secret is the client secret (stored and compared in plain text).
	Secret string
	// Type selects the endpoint, grant and token lifespan.
	Type ClientType
	// Name is reported as client_name by the System Client endpoint;
	// defaults to ID.
	Name string
	// RedirectURIs are the registered redirect URIs of a User Client. A
	// loopback http URI (http://127.0.0.1/path) matches any port (RFC 8252).
	RedirectURIs []string
	// Scopes the client may be granted. Defaults per type: user PATIENT,
	// CLINICIAN, TEAMCOORD; tethered SITE; system OrgID+"-all"; customer
	// email, profile.
	Scopes []string
	// OrgID is the organisation UUID of a System Client (used for its
	// default scope) or of a Customer System Client (whose organisation's
	// patients and privacy labels it sees on the Aggregated endpoint).
	// Defaults to DefaultSystemOrgID, the seeded organisation.
	OrgID string
}

func defaultClients() []Client {
	return []Client{
		{ID: DefaultUserClientID, Secret: DefaultClientSecret, Type: ClientTypeUser, RedirectURIs: []string{DefaultUserClientRedirectURI}},
		{ID: DefaultTetheredClientID, Secret: DefaultClientSecret, Type: ClientTypeTethered},
		{ID: DefaultSystemClientID, Secret: DefaultClientSecret, Type: ClientTypeSystem, Name: DefaultSystemClientName, OrgID: DefaultSystemOrgID},
		{ID: DefaultCustomerClientID, Secret: DefaultClientSecret, Type: ClientTypeCustomer},
	}
}

// pkbClient is the fosite.Client the store hands to fosite. It carries the
// PKB client type and asks the server for the current per-type lifespans, so
// that SetAccessTokenLifespan takes effect on the next token request.
type pkbClient struct {
	*fosite.DefaultClient
	typ  ClientType
	name string
	org  string
	srv  *AuthServer
}

var _ fosite.ClientWithCustomTokenLifespans = (*pkbClient)(nil)

// GetEffectiveLifespan implements fosite.ClientWithCustomTokenLifespans.
func (c *pkbClient) GetEffectiveLifespan(gt fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	switch tt {
	case fosite.AccessToken:
		return c.srv.accessLifespan(c.typ)
	case fosite.RefreshToken:
		if gt == fosite.GrantTypeRefreshToken {
			// PKB sessions expire absolutely (API_SESSION_EXPIRED): keep the
			// session's original refresh expiry instead of sliding it.
			return -1
		}
		return c.srv.sessionLifespan()
	}
	return fallback
}

func (s *AuthServer) newFositeClient(c Client) (*pkbClient, error) {
	if c.ID == "" {
		return nil, errors.New("pkbtest: client id is empty")
	}
	scopes := slices.Clone(c.Scopes)
	var grants, responses []string
	switch c.Type {
	case ClientTypeUser:
		if len(scopes) == 0 {
			scopes = []string{ScopePatient, ScopeClinician, ScopeTeamCoord}
		}
		grants = []string{"authorization_code", "refresh_token"}
		responses = []string{"code"}
	case ClientTypeTethered:
		if len(scopes) == 0 {
			scopes = []string{ScopeSite}
		}
		grants = []string{"refresh_token"}
	case ClientTypeSystem:
		if len(scopes) == 0 {
			org := c.OrgID
			if org == "" {
				org = DefaultSystemOrgID
			}
			scopes = []string{org + "-all"}
		}
		grants = []string{"client_credentials"}
	case ClientTypeCustomer:
		if len(scopes) == 0 {
			scopes = []string{"email", "profile"}
		}
		grants = []string{"client_credentials"}
	default:
		return nil, fmt.Errorf("pkbtest: client %q has unknown type %q", c.ID, c.Type)
	}
	name := c.Name
	if name == "" {
		name = c.ID
	}
	org := c.OrgID
	if org == "" {
		org = DefaultSystemOrgID
	}
	return &pkbClient{
		DefaultClient: &fosite.DefaultClient{
			ID:            c.ID,
			Secret:        []byte(c.Secret),
			RedirectURIs:  slices.Clone(c.RedirectURIs),
			GrantTypes:    grants,
			ResponseTypes: responses,
			Scopes:        scopes,
		},
		typ:  c.Type,
		name: name,
		org:  org,
		srv:  s,
	}, nil
}

// clientOrg is the organisation a client belongs to ("" if unknown).
func (s *AuthServer) clientOrg(id string) string {
	if c, ok := s.store.client(id); ok {
		return c.org
	}
	return ""
}

// plainHasher compares client secrets in constant time without hashing: the
// secrets are fake and bcrypt would slow every token request under -race.
type plainHasher struct{}

func (plainHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, data) != 1 {
		return errors.New("client secret mismatch")
	}
	return nil
}

func (plainHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return slices.Clone(data), nil
}

package authn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Keyring holds the AES-256 keys that encrypt tokens at rest in a shared
// store. Tokens are sealed with the primary key (AES-256-GCM, a random
// nonce per record) and the key id is stored beside the ciphertext, so any
// key of the ring can open them: to rotate, add a new primary and keep the
// old key until every record has been saved again (each refresh saves).
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// NewKeyring returns a keyring that encrypts with keys[primary]. Every key
// must be 32 random bytes; ids are 1-32 letters, digits, '-' or '_'.
func NewKeyring(primary string, keys map[string][]byte) (*Keyring, error) {
	if _, ok := keys[primary]; !ok {
		return nil, &ConfigError{Field: "Keyring", Reason: "has no key with the primary id " + fmt.Sprintf("%q", primary), Err: ErrInvalidConfig}
	}
	k := &Keyring{primary: primary, aeads: map[string]cipher.AEAD{}}
	for id, key := range keys {
		if !keyIDRe.MatchString(id) {
			return nil, &ConfigError{Field: "Keyring", Reason: fmt.Sprintf("key id %q must be 1-32 letters, digits, '-' or '_'", id), Err: ErrInvalidConfig}
		}
		if len(key) != 32 {
			return nil, &ConfigError{Field: "Keyring", Reason: fmt.Sprintf("key %q has %d bytes; AES-256 needs 32", id, len(key)), Err: ErrInvalidConfig}
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// ParseKeyring reads a keyring from text such as an environment variable:
// comma-separated id:base64 pairs (standard or URL alphabet, padding
// optional), the first being the primary, e.g. "k2:<32 bytes>,k1:<32 bytes>".
// Errors never quote the key material.
func ParseKeyring(spec string) (*Keyring, error) {
	keys := map[string][]byte{}
	primary := ""
	for i, part := range strings.Split(spec, ",") {
		id, enc, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" {
			return nil, &ConfigError{Field: "Keyring", Reason: fmt.Sprintf("entry %d is not id:base64-key", i+1), Err: ErrInvalidConfig}
		}
		enc = strings.TrimRight(enc, "=")
		b, err := base64.RawStdEncoding.DecodeString(enc)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(enc)
		}
		if err != nil {
			return nil, &ConfigError{Field: "Keyring", Reason: fmt.Sprintf("key %q is not base64", id), Err: ErrInvalidConfig}
		}
		if _, dup := keys[id]; dup {
			return nil, &ConfigError{Field: "Keyring", Reason: fmt.Sprintf("key id %q appears twice", id), Err: ErrInvalidConfig}
		}
		keys[id] = b
		if i == 0 {
			primary = id
		}
	}
	return NewKeyring(primary, keys)
}

// KeyIDs returns the ids of the keys, the primary first.
func (k *Keyring) KeyIDs() []string {
	ids := []string{k.primary}
	for id := range k.aeads {
		if id != k.primary {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids[1:])
	return ids
}

// String names the keys, never their material.
func (k *Keyring) String() string { return "authn.Keyring{" + strings.Join(k.KeyIDs(), ",") + "}" }

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

// TokenCodec turns tokens into the bytes a shared store keeps and back. It
// keeps what a session needs after a restart: both tokens, the expiry, the
// lifetime the endpoint granted (so replicas agree on when to refresh) and
// the granted scope. With Keys set the bytes are an AES-256-GCM envelope
// bound to the session, so a record copied to another session's key does
// not open, and a plaintext record is refused.
type TokenCodec struct {
	// Keys, if set, encrypts every record.
	Keys *Keyring
}

// record is the plaintext form.
type record struct {
	Version      int       `json:"v"`
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ExpiresIn    int64     `json:"expires_in,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Origin       string    `json:"origin,omitempty"`
}

// envelope is the encrypted form; the key id travels beside the ciphertext.
type envelope struct {
	Version int    `json:"v"`
	Alg     string `json:"alg"`
	KeyID   string `json:"kid"`
	Data    []byte `json:"data"` // nonce || ciphertext
}

const envelopeAlg = "A256GCM"

func aad(session SessionKey, kid string) []byte {
	return []byte("pkb-go token v1\x00" + session.ID() + "\x00" + kid)
}

// Encode returns the stored form of tok for session.
func (c TokenCodec) Encode(tok *oauth2.Token, session SessionKey) ([]byte, error) {
	if tok == nil {
		return nil, errors.New("authn: cannot store a nil token")
	}
	rec := record{Version: 1, AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken,
		Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn, Scope: strings.Join(GrantedScopes(tok), " "), Origin: originOf(tok)}
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if c.Keys == nil {
		return plain, nil
	}
	aead := c.Keys.aeads[c.Keys.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nonce, nonce, plain, aad(session, c.Keys.primary))
	return json.Marshal(envelope{Version: 1, Alg: envelopeAlg, KeyID: c.Keys.primary, Data: sealed})
}

// Decode reads a record written by Encode for the same session. Errors
// never quote the record.
func (c TokenCodec) Decode(b []byte, session SessionKey) (*oauth2.Token, error) {
	var probe struct {
		Version int    `json:"v"`
		Alg     string `json:"alg"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || probe.Version != 1 {
		return nil, errors.New("authn: the stored token record is not valid (not written by this package, or a newer version)")
	}
	if probe.Alg != "" {
		if c.Keys == nil {
			return nil, errors.New("authn: the stored token is encrypted and no keyring is configured")
		}
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil || env.Alg != envelopeAlg {
			return nil, errors.New("authn: the stored token envelope is not valid")
		}
		aead, ok := c.Keys.aeads[env.KeyID]
		if !ok {
			return nil, fmt.Errorf("authn: the stored token is encrypted with key %q, which the keyring does not have", env.KeyID)
		}
		if len(env.Data) < aead.NonceSize() {
			return nil, errors.New("authn: the stored token envelope is truncated")
		}
		plain, err := aead.Open(nil, env.Data[:aead.NonceSize()], env.Data[aead.NonceSize():], aad(session, env.KeyID))
		if err != nil {
			return nil, fmt.Errorf("authn: the stored token does not decrypt with key %q for this session (wrong key, another session's record, or tampering)", env.KeyID)
		}
		b = plain
	} else if c.Keys != nil {
		return nil, errors.New("authn: the stored token is not encrypted but a keyring is configured; refusing it (save the session again, e.g. log in)")
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, errors.New("authn: the stored token record is not valid")
	}
	tok := &oauth2.Token{AccessToken: rec.AccessToken, TokenType: rec.TokenType, RefreshToken: rec.RefreshToken,
		Expiry: rec.Expiry, ExpiresIn: rec.ExpiresIn}
	return withStoredExtras(tok, rec.Scope, rec.Origin), nil
}

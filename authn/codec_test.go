package authn

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestTokenCodecEncryptsAndRotatesKeys(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	session := SessionKey{TokenURL: "https://pkb.example/apiToken.action", ClientID: "c", ClientType: ClientTethered}
	old, err := NewKeyring("k1", map[string][]byte{"k1": k1})
	if err != nil {
		t.Fatal(err)
	}
	tok := sampleToken("AT-SECRET-VALUE", "RT-SECRET-VALUE")
	b, err := TokenCodec{Keys: old}.Encode(tok, session)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"AT-SECRET-VALUE", "RT-SECRET-VALUE", base64.StdEncoding.EncodeToString([]byte("RT-SECRET-VALUE"))} {
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("encrypted record contains %q: %s", secret, b)
		}
	}
	if !bytes.Contains(b, []byte(`"kid":"k1"`)) {
		t.Fatalf("key id not beside the ciphertext: %s", b)
	}
	// Rotation: k2 is the new primary, k1 still opens old records.
	ring, err := ParseKeyring("k2:" + base64.StdEncoding.EncodeToString(k2) + ",k1:" + base64.RawURLEncoding.EncodeToString(k1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := TokenCodec{Keys: ring}.Decode(b, session)
	if err != nil || got.RefreshToken != "RT-SECRET-VALUE" || GrantedScopes(got)[0] != "PATIENT" {
		t.Fatalf("decode with rotated ring: %+v %v", got, err)
	}
	b2, _ := TokenCodec{Keys: ring}.Encode(tok, session)
	if !bytes.Contains(b2, []byte(`"kid":"k2"`)) {
		t.Fatalf("not sealed with the new primary: %s", b2)
	}
	if _, err := (TokenCodec{Keys: old}).Decode(b2, session); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Fatalf("a record under an unknown key: %v", err)
	}
	// A record moved to another session's key does not open.
	other := session
	other.Name = "other"
	if _, err := (TokenCodec{Keys: ring}).Decode(b, other); err == nil {
		t.Fatal("a record opened under another session")
	}
	// Tampering is detected.
	bad := bytes.Replace(b, []byte(`"data":"`), []byte(`"data":"AAAA`), 1)
	if _, err := (TokenCodec{Keys: ring}).Decode(bad, session); err == nil {
		t.Fatal("a tampered record opened")
	}
	// With a keyring, a planted plaintext record is refused; without one,
	// an encrypted record is reported, not misread.
	plain, _ := TokenCodec{}.Encode(tok, session)
	if _, err := (TokenCodec{Keys: ring}).Decode(plain, session); err == nil {
		t.Fatal("plaintext record accepted although a keyring is configured")
	}
	if _, err := (TokenCodec{}).Decode(b, session); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("encrypted record without keyring: %v", err)
	}
}

func TestKeyringErrorsNeverQuoteKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("too-short-key-material"))
	for _, spec := range []string{"k1:" + short, "k1", "k1:!!notbase64!!", "bad id:" + short, "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ",k1:" + short} {
		_, err := ParseKeyring(spec)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%q: err = %v", spec, err)
		}
		if strings.Contains(err.Error(), short) || strings.Contains(err.Error(), "too-short") {
			t.Fatalf("error quotes key material: %v", err)
		}
	}
	ring, _ := NewKeyring("a", map[string][]byte{"a": newKey(t), "b": newKey(t)})
	if s := ring.String(); s != "authn.Keyring{a,b}" {
		t.Fatalf("String = %q", s)
	}
}

func TestSessionKeyHasNoSecretsAndIsStable(t *testing.T) {
	k := SessionKey{TokenURL: "https://pkb.example/apiToken.action", ClientID: "my-client-id", ClientType: ClientTethered, Name: "reporting"}
	id := k.ID()
	if id != k.ID() || len(id) != 32 || strings.Contains(k.String(), "my-client-id") {
		t.Fatalf("ID %q String %q", id, k.String())
	}
	for _, other := range []SessionKey{{TokenURL: k.TokenURL, ClientID: k.ClientID, ClientType: ClientTethered}, {TokenURL: k.TokenURL, ClientID: "x", ClientType: ClientTethered, Name: "reporting"}} {
		if other.ID() == id {
			t.Fatalf("%v and %v share an ID", k, other)
		}
	}
	if (SessionKey{Name: ""}).ID() != (SessionKey{Name: "default"}).ID() {
		t.Fatal("empty name is not the default session")
	}
}

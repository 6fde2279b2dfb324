// Package example exercises apisurface.
package example

import "io"

// Kind is an enum.
type Kind int

// Kinds.
const (
	KindA Kind = iota
	KindB
	hidden
)

// Version is a constant.
const Version = "1.0"

// ErrX is a variable.
var ErrX = io.EOF

// Client is a struct.
type Client struct {
	Name   string `json:"name"`
	secret string
	io.Reader
	Nested struct {
		A int
	}
}

// Do is a method.
func (c *Client) Do(r io.Reader, n int) (int, error) { return 0, nil }

func (c *Client) private() {}

// Doer is an interface.
type Doer interface {
	Do(io.Reader, int) (int, error)
	io.Closer
}

// Map is generic.
func Map[T, U any](in []T, f func(T) U) []U { return nil }

// Alias is an alias.
type Alias = Client

type hiddenType struct{ X int }

// X is on an unexported type.
func (hiddenType) X() {}

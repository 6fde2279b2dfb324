package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

// fields returns a mapping's values by key, refusing keys not in allowed.
func fields(n *yaml.Node, where string, allowed ...string) (map[string]*yaml.Node, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errorf(where, "want a mapping")
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !slices.Contains(allowed, k) {
			return nil, errorf(where, "line %d: unknown key %q (want one of %s)", n.Content[i].Line, k, strings.Join(allowed, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, errorf(where, "line %d: key %q given twice", n.Content[i].Line, k)
		}
		out[k] = resolve(n.Content[i+1])
	}
	return out, nil
}

// mapGet returns the value of key in a mapping, or nil.
func mapGet(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

func scalar(n *yaml.Node, where string) (string, error) {
	if n == nil {
		return "", nil
	}
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return "", errorf(where, "line %d: want a scalar", n.Line)
	}
	return n.Value, nil
}

func boolean(n *yaml.Node, where string) (bool, error) {
	if n == nil {
		return false, nil
	}
	var b bool
	if err := resolve(n).Decode(&b); err != nil {
		return false, errorf(where, "line %d: want true or false", n.Line)
	}
	return b, nil
}

// strings returns a scalar as one string or a sequence of scalars.
func stringList(n *yaml.Node, where string) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errorf(where, "line %d: want a string or a list of strings", n.Line)
	}
	out := []string{}
	for _, c := range n.Content {
		s, err := scalar(c, where)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func intList(n *yaml.Node, where string) ([]int, error) {
	ss, err := stringList(n, where)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, s := range ss {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 || v > 599 {
			return nil, errorf(where, "%q is not an HTTP status", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func sequence(n *yaml.Node, where string) ([]*yaml.Node, error) {
	if n == nil {
		return nil, nil
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		return nil, errorf(where, "line %d: want a list", n.Line)
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out, nil
}

// jsonOf renders a YAML value as compact JSON (mapping keys sorted).
func jsonOf(n *yaml.Node, where string) (string, error) {
	var v any
	if err := resolve(n).Decode(&v); err != nil {
		return "", errorf(where, "line %d: %v", n.Line, err)
	}
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return "", errorf(where, "line %d: not JSON: %v", n.Line, err)
	}
	return string(b), nil
}

// normalize turns YAML's map[any]any (never produced by yaml.v3 for string
// keys, but possible for others) into JSON-encodable values.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// lookup finds the node a JSON pointer names, or nil.
func lookup(root *yaml.Node, ptr string) *yaml.Node {
	n := resolve(root)
	if ptr == "" {
		return n
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = unescape(tok)
		switch n.Kind {
		case yaml.MappingNode:
			n = mapGet(n, tok)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = resolve(n.Content[i])
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// parentOf splits a pointer into its parent and last token.
func parentOf(ptr string) (string, string) {
	i := strings.LastIndex(ptr, "/")
	if i < 0 {
		return "", ptr
	}
	return ptr[:i], unescape(ptr[i+1:])
}

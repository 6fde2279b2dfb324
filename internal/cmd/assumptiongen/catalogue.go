package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// readCatalogue reads the probe-value catalogue: the values placeholders
// may name and the calls (discoveries) that find some of them.
func (t *table) readCatalogue(file string, root *yaml.Node, docs map[string]*doc) error {
	f, err := fields(root, file, "values", "discoveries")
	if err != nil {
		return err
	}
	items, err := sequence(f["values"], file+" values")
	if err != nil {
		return err
	}
	declared := map[string]bool{}
	for i, n := range items {
		where := fmt.Sprintf("%s values %d", file, i+1)
		vf, err := fields(n, where, "name", "description", "sensitive", "generated")
		if err != nil {
			return err
		}
		var v value
		v.name, _ = scalar(vf["name"], where)
		v.description, _ = scalar(vf["description"], where)
		v.generated, _ = scalar(vf["generated"], where)
		if v.sensitive, err = boolean(vf["sensitive"], where); err != nil {
			return err
		}
		switch {
		case !reValueName.MatchString(v.name):
			return errorf(where, "name %q: want dotted lowerCamel words, e.g. patient.nhsNumber", v.name)
		case declared[v.name]:
			return errorf(where, "value %q declared twice", v.name)
		case strings.TrimSpace(v.description) == "":
			return errorf(where, "value %q has no description", v.name)
		case !slices.Contains([]string{"", "uuid", "now"}, v.generated):
			return errorf(where, "generated %q: want uuid or now", v.generated)
		}
		declared[v.name] = true
		t.values = append(t.values, v)
	}
	sort.Slice(t.values, func(i, j int) bool { return t.values[i].name < t.values[j].name })

	items, err = sequence(f["discoveries"], file+" discoveries")
	if err != nil {
		return err
	}
	for i, n := range items {
		where := fmt.Sprintf("%s discoveries %d", file, i+1)
		df, err := fields(n, where, "clients", "request", "pick")
		if err != nil {
			return err
		}
		fam, _ := scalar(mapGet(df["request"], "family"), where)
		d := docs[fam]
		if d == nil {
			return errorf(where, "request.family %q is not one of the documents", fam)
		}
		ctx := &entryCtx{where: where, doc: d, docs: docs, declared: declared, source: location{d.file, ""}}
		var disc discovery
		if disc.req, err = ctx.readRequest(df["request"], where+" request", fam, nil); err != nil {
			return err
		}
		if disc.clients, err = readClients(df["clients"], where, d.ops[disc.req.operation].grants); err != nil {
			return err
		}
		pm := resolve(df["pick"])
		if pm == nil || pm.Kind != yaml.MappingNode || len(pm.Content) == 0 {
			return errorf(where, "pick: want a mapping of value names to paths")
		}
		for j := 0; j+1 < len(pm.Content); j += 2 {
			name, path := pm.Content[j].Value, pm.Content[j+1].Value
			if !declared[name] {
				return errorf(where, "pick %q is not a declared value", name)
			}
			if path == "" || !reCheckPath.MatchString(path) || strings.Contains(path, "[]") {
				return errorf(where, "pick %s: path %q must name one value", name, path)
			}
			disc.picks = append(disc.picks, pick{name: name, path: path})
		}
		sort.Slice(disc.picks, func(i, j int) bool { return disc.picks[i].name < disc.picks[j].name })
		t.discoveries = append(t.discoveries, disc)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/drift"
	"github.com/pkbgo/pkb/wrappers"
)

// cmdDrift compares a Facade CapabilityStatement (a file, or the live
// /metadata of the configured environment) with the committed one and with
// what facade.yaml covers. Exit 1 on removals or uncovered items.
func (c *cli) cmdDrift(ctx context.Context, args []string) error {
	var cf commonFlags
	var statement string
	fs := c.newFlagSet("drift", "[--statement file] [flags]\n\nWithout --statement, fetches GET <Facade base>/metadata with the configured client.")
	addCommon(fs, &cf)
	fs.StringVar(&statement, "statement", "", "a saved CapabilityStatement to compare instead of the live /metadata")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return usageErrorf("unexpected arguments %q", pos)
	}
	var candidate []byte
	if statement != "" {
		if candidate, err = os.ReadFile(statement); err != nil {
			return usageErrorf("reading the statement: %v", err)
		}
	} else {
		sess, ctx, cancel, err := c.setup(ctx, &cf)
		if err != nil {
			return err
		}
		defer cancel()
		f, err := sess.family("facade")
		if err != nil {
			return err
		}
		op, ok := access.Find(f.Info().ID, access.InteractionCapabilities, "")
		if !ok {
			return fmt.Errorf("the facade API has no capabilities interaction")
		}
		resp, err := sess.call(ctx, f, &wrappers.Call{Operation: op.ID})
		if err != nil {
			return c.reportFailure(cf.json, err)
		}
		candidate = resp.body
	}
	rep, err := drift.CompareWithEmbedded(candidate)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if cf.json {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		// The report quotes the server's CapabilityStatement.
		if b, err = safeJSON(b, redactorOf(c.stdout), true); err != nil {
			return err
		}
		past(c.stdout).Write(b)
	} else if err := rep.WriteText(c.stdout); err != nil {
		return err
	}
	if rep.Failed() {
		return &exitError{code: exitFailed, silent: true}
	}
	return nil
}

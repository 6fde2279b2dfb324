package verify

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report as tables for a person: a summary line, one
// row per assumption (with the evidence of those not confirmed), and the
// drift. verbose adds the claim under each row and the confirmed rows'
// evidence.
func WriteText(w io.Writer, r *Report, verbose bool) error {
	s := r.Summary
	fmt.Fprintf(w, "pkb verify as a %s client: %d assumptions: %d confirmed, %d contradicted, %d inconclusive, %d not testable, %d errors; drift: %d (%d breaking); %d calls in %s\n\n",
		r.Client, len(r.Results), s.Confirmed, s.Contradicted, s.Inconclusive, s.NotTestable, s.Errors, s.Drift, s.BreakingDrift, r.Calls,
		(time.Duration(r.DurationMS) * time.Millisecond).String())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tASSUMPTION\tEVIDENCE")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Outcome, res.ID, summary(res, verbose))
		if verbose {
			fmt.Fprintf(tw, "\t  %s\t\n", res.Claim)
		}
		if res.Evidence != nil && (verbose || res.Outcome == Contradicted || res.Outcome == Inconclusive) {
			for _, c := range res.Evidence.Checks {
				line := fmt.Sprintf("  %s: want %s, got %s (%s)", orBody(c.Path), c.Want, c.Got, c.Result)
				if len(c.Siblings) > 0 {
					line += "; beside it: " + strings.Join(c.Siblings, ", ")
				}
				fmt.Fprintf(tw, "\t\t%s\n", line)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Drift) == 0 {
		_, err := fmt.Fprintln(w, "\nNo drift: every answer was as the documents describe it.")
		return err
	}
	fmt.Fprintln(w, "\nDRIFT (answers that differ from the documents; breaking: the documents forbid it)")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BREAKING\tOPERATION\tSTATUS\tKIND\tPATH\tDETAIL\tCOUNT")
	for _, d := range r.Drift {
		b := "no"
		if d.Breaking {
			b = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s.%s\t%d\t%s\t%s\t%s\t%d\n", b, d.Family, d.Operation, d.Status, d.Kind, orDash(d.Path), d.Detail, d.Count)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summary is the one-line evidence of a result.
func summary(res Result, verbose bool) string {
	switch res.Outcome {
	case NotTestable, Error:
		return res.Reason
	}
	ev := res.Evidence
	if ev == nil {
		return res.Reason
	}
	s := fmt.Sprintf("%d", ev.Status)
	if ev.ContentType != "" {
		s += " " + ev.ContentType
	}
	s += ", " + ev.Body
	switch {
	case res.Outcome == Contradicted && ev.ContradictedBy == "status":
		s += "; the status contradicts the claim"
	case res.Outcome == Contradicted && ev.WantContentType != "" && ev.ContentType != ev.WantContentType:
		s += "; want " + ev.WantContentType
	}
	if res.Alternative != "" {
		s += "; answered instead: " + res.Alternative
	}
	if res.Reason != "" {
		s += "; " + res.Reason
	}
	if res.Writes && verbose {
		s += " (wrote)"
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WritePatches writes patches as indented JSON (an array of Patch).
func WritePatches(w io.Writer, ps []Patch) error {
	if ps == nil {
		ps = []Patch{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(ps)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string    `xml:"classname,attr"`
	Name      string    `xml:"name,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *junitMsg `xml:"failure,omitempty"`
	Error     *junitMsg `xml:"error,omitempty"`
	Skipped   *junitMsg `xml:"skipped,omitempty"`
	SystemOut string    `xml:"system-out,omitempty"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// WriteJUnit writes the report as JUnit XML, for CI: one test case per
// assumption (contradicted: failure; error: error; not testable and
// inconclusive: skipped) and one failure per drift item.
func WriteJUnit(w io.Writer, r *Report) error {
	client := r.Client.String()
	as := junitSuite{Name: "pkb verify assumptions (" + client + ")", Time: seconds(r.DurationMS), Timestamp: r.Started.UTC().Format(time.RFC3339)}
	for _, res := range r.Results {
		c := junitCase{Classname: "assumptions." + string(res.Family), Name: res.ID, Time: seconds(res.DurationMS)}
		detail := res.Claim + "\n" + summary(res, true)
		if res.Evidence != nil {
			for _, ch := range res.Evidence.Checks {
				detail += fmt.Sprintf("\n%s: want %s, got %s (%s)", orBody(ch.Path), ch.Want, ch.Got, ch.Result)
			}
		}
		switch res.Outcome {
		case Contradicted:
			c.Failure = &junitMsg{Message: "contradicted: " + res.Claim, Type: "contradicted", Text: detail}
			as.Failures++
		case Error:
			c.Error = &junitMsg{Message: res.Reason, Type: "error", Text: detail}
			as.Errors++
		case NotTestable, Inconclusive:
			c.Skipped = &junitMsg{Message: string(res.Outcome) + ": " + res.Reason}
			as.Skipped++
		default:
			c.SystemOut = detail
		}
		as.Cases = append(as.Cases, c)
	}
	as.Tests = len(as.Cases)
	ds := junitSuite{Name: "pkb verify drift (" + client + ")", Time: "0.000"}
	for _, d := range r.Drift {
		name := fmt.Sprintf("%s %s (status %d)", d.Kind, orDash(d.Path), d.Status)
		c := junitCase{Classname: "drift." + string(d.Family) + "." + d.Operation, Name: name, Time: "0.000"}
		text := fmt.Sprintf("%s; seen %d times", d.Detail, d.Count)
		msg := d.Detail
		if !d.Breaking {
			msg = "allowed by the document but not described: " + d.Detail
		}
		c.Failure = &junitMsg{Message: msg, Type: d.Kind, Text: text}
		ds.Failures++
		ds.Cases = append(ds.Cases, c)
	}
	ds.Tests = len(ds.Cases)
	out := junitSuites{Name: "pkb verify", Time: seconds(r.DurationMS), Suites: []junitSuite{as, ds}}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

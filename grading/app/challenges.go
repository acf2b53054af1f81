package app

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// listChallenges prints what `app migrate` writes to the challenges table, with each
// challenge's pack: what this binary offers, built-in and from packs.
func listChallenges(w io.Writer) error {
	es, err := catalog.Entries()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTITLE\tFORMATS\tPACK")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Slug, e.Title, strings.Join(e.Formats, ","), e.Pack)
	}
	return tw.Flush()
}

// builtin says whether slug is one of Holdfast's own challenges, which the public holdfast tool
// knows; a pack's challenge is not (its hidden parts are the reason it is in a pack).
func builtin(slug string) bool {
	es, err := catalog.Entries()
	if err != nil {
		return false // Main checked the catalog before running any command
	}
	for _, e := range es {
		if e.Slug == slug {
			return e.Pack == catalog.Builtin
		}
	}
	return false
}

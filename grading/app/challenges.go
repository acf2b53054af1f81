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
func listChallenges(cat *catalog.Catalog, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTITLE\tFORMATS\tPACK")
	for _, c := range cat.Challenges() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Slug, c.Title, strings.Join(c.Formats, ","), c.Pack)
	}
	return tw.Flush()
}

// builtin says whether a slug of cat is one of Holdfast's own challenges, which the public
// holdfast tool knows; a pack's challenge is not (its hidden parts are the reason it is in a
// pack).
func builtin(cat *catalog.Catalog) func(slug string) bool {
	return func(slug string) bool {
		c, err := cat.Lookup(slug)
		return err == nil && c.Pack == catalog.BuiltinName
	}
}

package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// challenges prints the catalog.
func challenges(stdout, stderr io.Writer) int {
	es, err := catalog.Entries()
	if err != nil {
		fmt.Fprintln(stderr, "runner challenges:", err)
		return exitGraderError
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTITLE\tDIFFICULTY\tLANGUAGES\tFORMATS\tSCENARIOS")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", e.Slug, e.Title, e.Difficulty, strings.Join(e.Languages, ","),
			strings.Join(e.Formats, ","), len(e.Challenge.Scenarios))
	}
	if err := tw.Flush(); err != nil {
		return exitGraderError
	}
	return exitPass
}

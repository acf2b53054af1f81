package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// challenges prints the catalog.
func challenges(cat *catalog.Catalog, stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tTITLE\tDIFFICULTY\tLANGUAGES\tFORMATS\tSCENARIOS")
	for _, c := range cat.Challenges() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", c.Slug, c.Title, c.Difficulty, strings.Join(c.Languages, ","),
			strings.Join(c.Formats, ","), len(c.Scenarios))
	}
	if err := tw.Flush(); err != nil {
		return exitGraderError
	}
	return exitPass
}

package scenariotest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
)

// update re-records the kill matrix's transcripts (go test ./scenarios/PKG -run TestKillMatrix
// -update), as gotest.tools' golden package does: a test kit's flag, registered once in every
// test binary that grades a kill matrix.
var update = flag.Bool("update", false, "re-record the kill matrix's learner transcripts in testdata/transcripts/")

// TranscriptDir holds, per kill-matrix row, the learner's transcript of its grading.
const TranscriptDir = "testdata/transcripts"

// Transcript is what a learner reads after grading a submission (`runner grade`'s report,
// hidden details withheld), normalised (Normalise).
func Transcript(v grading.Verdict) (string, error) {
	var b bytes.Buffer
	if err := grading.WriteText(&b, grading.ForView(v, grading.LearnerView)); err != nil {
		return "", err
	}
	return Outline(Normalise(b.String())), nil
}

// Outline keeps of a normalised report what a grading of the same code shows every time: the
// table (each scenario's outcome, hidden ones as one line), the closing lines and the score. It
// drops each failure's details (expected, actual, hint, what happened): a race is caught by
// whichever check sees it first, so which one fails and how it is worded vary from grading to
// grading of one broken variant (distributed-lock's broken-memory-lock: "only the winning run to
// write" in one run, "one run at a time" in the next; cache-stampede's hints quote how many
// origin calls a stampede made; which of two equal failures folds into the other). The
// pipeline's own wording is pinned by grading's messages tests instead. Outlining twice changes
// nothing.
func Outline(report string) string {
	var out []string
	inDetail := false
	for _, l := range strings.Split(report, "\n") {
		switch {
		case l == "":
			inDetail = false
			if len(out) > 0 && out[len(out)-1] == "" {
				continue
			}
		case inDetail, strings.HasPrefix(l, " "), strings.HasPrefix(l, "---"):
			continue
		case (strings.HasPrefix(l, "FAIL ") || strings.HasPrefix(l, "ERR ")) && !strings.Contains(l, "<d>") && !strings.Contains(l, "hidden scenario"):
			inDetail = true // a failure's headline: its details follow until a blank line
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

var (
	// a table row: PASS, FAIL or ERR, the slug padded to the widest, the duration right-aligned.
	tableRowRE  = regexp.MustCompile(`(?m)^(PASS|FAIL|ERR ) (\S+) +` + durationPattern)
	durationRE  = regexp.MustCompile(`\b` + durationPattern + `\b`)
	timestampRE = regexp.MustCompile(`\b(\d{4}-\d\d-\d\d[T ])?\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?\b`)
	addrRE      = regexp.MustCompile(`\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[[0-9a-f:]+\])(:\d{1,5})?\b`)
	uuidRE      = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	hexIDRE     = regexp.MustCompile(`(\b|_)[0-9a-f]{8,64}\b`)
)

// durationPattern is a Go duration as time.Duration.String and Round print it: 5ms, 1.214s, 2m3s.
const durationPattern = `(\d+(\.\d+)?(ms|µs|us|ns|h|m|s))+`

// Normalise replaces the parts of a learner's report that change from one grading of the same
// code to the next with placeholders, in the lines an Outline keeps (the table, a status line
// such as CRASHED's message, the closing lines), so that a recorded transcript pins our wording
// and the verdict, not the noise: durations (a scenario's time in the table) read <d>;
// addresses (ip:port), container, run and request ids (8+ hex digits, UUIDs) and timestamps or
// clock times read <addr>, <id>, <time>. A failure's details, the app's output and the timeline
// are indented or fenced by "---" lines, and Outline drops them whole. Normalising twice
// changes nothing.
func Normalise(report string) string {
	s := tableRowRE.ReplaceAllString(report, "$1 $2 <d>")
	s = timestampRE.ReplaceAllString(s, "<time>")
	s = durationRE.ReplaceAllString(s, "<d>")
	s = uuidRE.ReplaceAllString(s, "<id>")
	s = hexIDRE.ReplaceAllStringFunc(s, func(h string) string {
		prefix, hex := "", h
		if strings.HasPrefix(h, "_") { // pay_9f3c…: the prefix stays
			prefix, hex = "_", h[1:]
		}
		if strings.ContainsAny(hex, "0123456789") && strings.ContainsAny(hex, "abcdef") {
			return prefix + "<id>"
		}
		return h // a long number or a word of hex letters, not an id
	})
	return addrRE.ReplaceAllString(s, "<addr>")
}

// transcriptName is a row's name in testdata/transcripts/: its directory, and for a row whose
// verdict depends on the runtime (GVisorFails) the runtime too, one transcript per runtime. A
// row outside testdata/ (debug-retry-storm's starter, ../../../templates/…) is named by its
// path from there, with dashes, so that its transcript stays beside the others.
func transcriptName(row Row, runtime string) string {
	name := filepath.ToSlash(filepath.Clean(row.Dir))
	for strings.HasPrefix(name, "../") {
		name = strings.TrimPrefix(name, "../")
	}
	name = strings.ReplaceAll(name, "/", "-")
	if row.GVisorFails != nil {
		return name + "." + runtime
	}
	return name
}

// MatchTranscript holds report, the text a learner reads for the kill-matrix row name, to
// testdata/transcripts/<name>.txt once normalised (Normalise), or records it there when the
// test runs with -update. A difference fails the test with a line diff and the command that
// re-records it.
func MatchTranscript(t *testing.T, name, report string) {
	t.Helper()
	got := Outline(Normalise(report))
	path := filepath.Join(TranscriptDir, name+".txt")
	rerecord := fmt.Sprintf("go test ./scenarios/%s -run 'TestKillMatrix/%s$' -update", filepath.Base(mustGetwd(t)), strings.SplitN(name, ".", 2)[0])
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded the learner's transcript in %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no recorded transcript for %s (%v): record it with %s", name, err, rerecord)
	}
	if got != string(want) {
		t.Errorf("the learner's transcript of %s differs from %s (- recorded, + now); if the change is meant, re-record it with %s\n%s",
			name, path, rerecord, LineDiff(string(want), got))
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// LineDiff shows how b differs from a, line by line: "- " lines only in a, "+ " lines only in
// b, "  " lines in both (a longest common subsequence; transcripts are short).
func LineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j] is the length of the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&out, "  %s\n", x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "- %s\n", x[i])
			i++
		default:
			fmt.Fprintf(&out, "+ %s\n", y[j])
			j++
		}
	}
	return out.String()
}

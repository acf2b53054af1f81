package grading

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// timeline is a finished scenario's timeline when a learner may read it: only a failed, public
// scenario has one. A hidden scenario's requests would give away what it checks.
func (g *Grader) timeline(ctx context.Context, h *scenarios.Harness, s scenarios.Scenario, o Outcome) *scenarios.Timeline {
	if o != OutcomeFailed || s.Visibility != scenarios.Public {
		return nil
	}
	// Within the hard cap: a grading out of time keeps its verdict, not the picture.
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tl, err := h.Timeline(tctx)
	if err != nil {
		g.log().Warn("scenario timeline incomplete", "scenario", s.Slug, "err", err)
	}
	return &tl
}

// A timeline renders as steps: a request's departure and its answer are two steps, so that
// overlapping requests read as they happened.
type step struct {
	at       time.Duration
	from, to string // the caller and the callee; for a note, to is empty
	answer   bool   // the answer to a request, from to back to from
	failed   bool   // no answer (timed out, refused, hung up)
	text     string
	gap      bool // events left out
	omitted  int  // for a gap: how many events
}

// Widths of what a rendering shows of a body and a whole line: the timeline sits inside a
// report, beside the failure it explains.
const (
	textBodyWidth    = 80
	mermaidBodyWidth = 64
)

// steps turns events into steps in time order, with volatile ids shortened.
func steps(tl *scenarios.Timeline, bodyWidth int) []step {
	sh := newShortener()
	for _, e := range tl.Events { // keys first: a key seen anywhere reads as k1, k2…
		if e.Key != "" {
			sh.key(e.Key)
		}
	}
	var out []step
	for _, e := range tl.Events {
		body := func(s string) string { return cut(sh.text(s), bodyWidth) }
		switch e.Kind {
		case agent.EventGap:
			out = append(out, step{at: e.At, gap: true, omitted: e.Omitted, text: fmt.Sprintf("… %d more events …", e.Omitted)})
		case agent.EventRequest:
			text := sh.text(e.What)
			if e.Key != "" {
				text += " key=" + sh.key(e.Key)
			}
			if e.Body != "" {
				text += " " + body(e.Body)
			}
			out = append(out, step{at: e.At, from: e.From, to: e.To, text: text})
			if e.End == 0 {
				continue // no answer yet when the record was read
			}
			parts := []string{"no answer"}
			if e.Status != 0 {
				parts[0] = fmt.Sprint(e.Status)
			}
			if e.Answer != "" {
				parts = append(parts, body(e.Answer))
			}
			if e.Note != "" {
				parts = append(parts, sh.text(e.Note))
			}
			out = append(out, step{at: e.End, from: e.From, to: e.To, answer: true, failed: e.Status == 0, text: strings.Join(parts, " — ")})
		case agent.EventRestart:
			out = append(out, step{at: e.At, from: e.From, to: e.To, text: "start"})
			if e.End != 0 {
				out = append(out, step{at: e.End, from: e.From, to: e.To, answer: true,
					failed: strings.HasPrefix(e.Note, "did not start"), text: sh.text(e.Note)})
			}
		case agent.EventExit:
			out = append(out, step{at: e.At, from: e.To, text: strings.TrimSpace(e.What + " (" + e.Note + ")")})
		case agent.EventConnect:
			text := e.What
			if e.Note != "" {
				text += " — " + sh.text(e.Note)
			}
			out = append(out, step{at: e.At, from: e.From, to: e.To, failed: e.Note != "", text: text})
		default: // faults, signals, pauses
			text := e.What
			if e.Kind == agent.EventFault {
				text = "fault: " + sh.text(e.What)
			}
			if e.Note != "" {
				text += " (" + sh.text(e.Note) + ")"
			}
			out = append(out, step{at: e.At, from: e.From, to: e.To, text: text})
		}
	}
	// Answers come after their requests; a stable sort keeps the record's order at equal times.
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

// maxDrawnSteps bounds a timeline drawn in a report (a Mermaid diagram, a check run's text
// block): seven failures' timelines must fit GitHub's 65535 characters beside the rest of the
// report, and nobody reads a diagram of more arrows. The CLI draws every step.
const maxDrawnSteps = 50

// capSteps keeps the first and last n/2 steps and one gap step for the rest.
func capSteps(ss []step, n int) []step {
	if n <= 0 || len(ss) <= n {
		return ss
	}
	keep := n / 2
	steps, events := 0, 0
	for _, s := range ss[keep : len(ss)-keep] {
		if s.gap {
			events += s.omitted
		} else {
			steps++
		}
	}
	text := fmt.Sprintf("… %d more steps …", steps)
	if events > 0 {
		text = fmt.Sprintf("… %d more steps and %d more events …", steps, events)
	}
	out := append([]step(nil), ss[:keep]...)
	out = append(out, step{at: ss[keep].at, gap: true, text: text})
	return append(out, ss[len(ss)-keep:]...)
}

// ms is a time from the scenario's start, as the timeline shows it.
func ms(d time.Duration) string { return fmt.Sprintf("+%dms", d.Milliseconds()) }

// TimelineText renders a timeline as plain lines, one step each, for a terminal and for
// wherever Mermaid does not render (a check run's summary):
//
//	+0ms     harness → app         POST /api/payments key=k1 {"amount":5100,"currency":"usd"}
//	+3004ms  harness ← app         504 — {"error":"provider timed out"}
func TimelineText(tl *scenarios.Timeline) []string { return timelineLines(tl, 0) }

// timelineLines is TimelineText with at most maxSteps steps (0: all).
func timelineLines(tl *scenarios.Timeline, maxSteps int) []string {
	if tl == nil {
		return nil
	}
	ss := capSteps(steps(tl, textBodyWidth), maxSteps)
	type row struct{ at, who, text string }
	rows := make([]row, 0, len(ss))
	atW, whoW := 0, 0
	for _, s := range ss {
		r := row{at: ms(s.at), text: s.text}
		switch {
		case s.gap:
			r.at = ""
		case s.to == "":
			r.who = s.from
		case s.answer && s.failed:
			r.who = s.from + " ✕ " + s.to
		case s.answer:
			r.who = s.from + " ← " + s.to
		default:
			r.who = s.from + " → " + s.to
		}
		atW, whoW = max(atW, len(r.at)), max(whoW, utf8.RuneCountInString(r.who))
		rows = append(rows, r)
	}
	lines := make([]string, 0, len(rows)+1)
	for _, r := range rows {
		pad := strings.Repeat(" ", whoW-utf8.RuneCountInString(r.who))
		lines = append(lines, strings.TrimRight(fmt.Sprintf("%-*s  %s%s  %s", atW, r.at, r.who, pad, r.text), " "))
	}
	if tl.Note != "" {
		lines = append(lines, "(this timeline is incomplete: "+tl.Note+")")
	}
	return lines
}

// participantOrder is the order of a sequence diagram's columns: the harness drives the app,
// the app calls the rest.
var participantOrder = []string{"harness", "app", "provider", "downstream", "postgres", "redis"}

// TimelineMermaid renders a timeline as a Mermaid sequenceDiagram (without the code fence), for
// where GitHub renders Mermaid: pull request comments and markdown files.
func TimelineMermaid(tl *scenarios.Timeline) string {
	if tl == nil {
		return ""
	}
	ss := capSteps(steps(tl, mermaidBodyWidth), maxDrawnSteps)
	seen := map[string]bool{}
	var names []string
	for _, s := range ss {
		for _, n := range []string{s.from, s.to} {
			if n != "" && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	rank := func(n string) int {
		for i, p := range participantOrder {
			if n == p {
				return i * 100
			}
		}
		if strings.HasPrefix(n, "app-") { // replicas beside the first
			var k int
			fmt.Sscanf(n, "app-%d", &k)
			return 100 + k
		}
		return 1000
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	if len(names) == 0 { // only a gap or a note: they sit over the harness
		names = []string{"harness"}
	}
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for _, n := range names {
		fmt.Fprintf(&b, "    participant %s as %s\n", mermaidID(n), n)
	}
	span := mermaidID(names[0])
	if len(names) > 1 {
		span += "," + mermaidID(names[len(names)-1])
	}
	for _, s := range ss {
		text := mermaidText(s.text)
		switch {
		case s.gap:
			fmt.Fprintf(&b, "    Note over %s: %s\n", span, text)
		case s.to == "":
			fmt.Fprintf(&b, "    Note over %s: %s %s\n", mermaidID(s.from), ms(s.at), text)
		case s.answer:
			arrow := "-->>"
			if s.failed {
				arrow = "--x"
			}
			fmt.Fprintf(&b, "    %s%s%s: %s %s\n", mermaidID(s.to), arrow, mermaidID(s.from), ms(s.at), text)
		default:
			arrow := "->>"
			if s.failed {
				arrow = "-x"
			}
			fmt.Fprintf(&b, "    %s%s%s: %s %s\n", mermaidID(s.from), arrow, mermaidID(s.to), ms(s.at), text)
		}
	}
	if tl.Note != "" {
		fmt.Fprintf(&b, "    Note over %s: %s\n", span, mermaidText("this timeline is incomplete: "+tl.Note))
	}
	return b.String()
}

// mermaidID is a participant's name as a Mermaid identifier: "app-2" would read as an arrow.
func mermaidID(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, name)
}

// mermaidText makes a message safe on one line of a sequence diagram: ";" and "#" would end it
// or start an entity, "<" and ">" be read as HTML, a newline end it, and "```" close the fence
// the diagram sits in.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '#':
			b.WriteString("#35;")
		case ';':
			b.WriteString("#59;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '`':
			b.WriteString("#96;")
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cut shortens s to n characters, saying so.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSuffix(string(r[:n-1]), "…") + "…"
}

// shortener replaces volatile ids (idempotency keys, uuids, payment and charge ids) with short,
// stable names in order of appearance: k1, k2 for keys, pay_1 for "pay_a881bac03b…", ch_1 for
// "ch_000010", id1 for a bare token. The same value reads the same everywhere in a timeline.
type shortener struct {
	names  map[string]string
	counts map[string]int
	keys   []string // known keys, longest first, replaced inside other text
}

func newShortener() *shortener {
	return &shortener{names: map[string]string{}, counts: map[string]int{}}
}

// key names an idempotency key.
func (s *shortener) key(k string) string {
	if n, ok := s.names[k]; ok {
		return n
	}
	s.counts["k"]++
	n := fmt.Sprintf("k%d", s.counts["k"])
	s.names[k] = n
	if len(k) >= 6 {
		s.keys = append(s.keys, k)
		for i := len(s.keys) - 1; i > 0 && len(s.keys[i]) > len(s.keys[i-1]); i-- {
			s.keys[i], s.keys[i-1] = s.keys[i-1], s.keys[i]
		}
	}
	return n
}

var (
	tokenRE  = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_-]*[A-Za-z0-9]`)
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	hexRunRE = regexp.MustCompile(`[0-9a-fA-F]{6,}`)
	prefixRE = regexp.MustCompile(`^([A-Za-z]{1,8})[_-]`)
)

// volatile reports whether a token is an id that differs between gradings: a uuid, or a run of
// six or more hex characters with at least two digits in it. A number alone (an amount, a count)
// is not.
func volatile(tok string) bool {
	if uuidRE.MatchString(tok) {
		return true
	}
	if strings.Trim(tok, "0123456789") == "" {
		return false
	}
	for _, run := range hexRunRE.FindAllString(tok, -1) {
		if countDigits(run) >= 2 {
			return true
		}
	}
	return false
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// text shortens every volatile id in s.
func (s *shortener) text(t string) string {
	for _, k := range s.keys {
		t = strings.ReplaceAll(t, k, s.names[k])
	}
	return tokenRE.ReplaceAllStringFunc(t, func(tok string) string {
		if n, ok := s.names[tok]; ok {
			return n
		}
		if !volatile(tok) {
			return tok
		}
		prefix := "id"
		if m := prefixRE.FindStringSubmatch(tok); m != nil && !uuidRE.MatchString(tok) {
			prefix = m[1] + tok[len(m[1]):len(m[1])+1]
		}
		s.counts[prefix]++
		n := fmt.Sprintf("%s%d", prefix, s.counts[prefix])
		s.names[tok] = n
		return n
	})
}

// timelineStyle says how a report draws a timeline.
type timelineStyle int

const (
	// timelineText is a text block: for a check run's summary, where GitHub does not document
	// Mermaid as rendering (it does for comments and markdown files).
	timelineText timelineStyle = iota
	// timelineDiagram is a Mermaid sequenceDiagram: for pull request comments.
	timelineDiagram
)

// writeTimelineMarkdown writes a failed scenario's timeline below its failure, open: it is the
// picture of what went wrong.
func writeTimelineMarkdown(b *strings.Builder, r ScenarioResult, style timelineStyle) {
	if r.Timeline == nil || len(r.Timeline.Events) == 0 {
		return
	}
	fmt.Fprintf(b, "\n<details open><summary>What happened during <code>%s</code> (ms from its start)</summary>\n\n", r.Slug)
	if style == timelineDiagram {
		b.WriteString("```mermaid\n" + TimelineMermaid(r.Timeline) + "```\n")
	} else {
		text := strings.ReplaceAll(strings.Join(timelineLines(r.Timeline, maxDrawnSteps), "\n"), "```", "'''")
		b.WriteString("```text\n" + text + "\n```\n")
	}
	b.WriteString("\n</details>\n")
}

// writeTimelineText writes a failed scenario's timeline for a terminal.
func writeTimelineText(b *strings.Builder, r ScenarioResult) {
	lines := TimelineText(r.Timeline)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "--- what happened during %s (ms from its start)\n", r.Slug)
	for _, l := range lines {
		fmt.Fprintf(b, "  %s\n", l)
	}
	b.WriteString("---\n")
}

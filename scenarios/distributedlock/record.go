package distributedlock

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// write is one call the app made to the fenced store, as the downstream recorded it.
type write struct {
	Seq        int
	Start, End time.Time
	Status     int
	Accepted   bool
	Instance   string // the X-Instance-Id header
	Token      int64  // the Fencing-Token header
	TokenOK    bool   // whether the header held an integer
	RawToken   string
	Step       int // the body's "step"; 0 when missing
}

func (w write) refused() bool { return w.Status == http.StatusConflict }

func (w write) describe() string {
	verdict := "accepted"
	switch {
	case w.refused():
		verdict = "refused (409)"
	case !w.Accepted:
		verdict = fmt.Sprintf("answered %d", w.Status)
	}
	return fmt.Sprintf("step %d by %s under token %s, %s", w.Step, orUnknown(w.Instance), orUnknown(w.RawToken), verdict)
}

func orUnknown(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// storeWrites returns the calls to the fenced store after since, in arrival order.
func storeWrites(ctx context.Context, h *scenarios.Harness, since int) ([]write, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read downstream calls: %w", err)
	}
	return writesOf(calls), nil
}

func writesOf(calls []agent.Call) []write {
	var out []write
	for _, c := range calls {
		if !strings.HasPrefix(c.Path, agent.FencedPrefix) {
			continue
		}
		w := write{Seq: c.Seq, Start: c.Start, End: c.End, Status: c.Status, Accepted: c.Accepted,
			Instance: header(c, InstanceHeader), RawToken: header(c, agent.FencingHeader)}
		if t, err := strconv.ParseInt(strings.TrimSpace(w.RawToken), 10, 64); err == nil {
			w.Token, w.TokenOK = t, true
		}
		var body struct {
			Step int `json:"step"`
		}
		if json.Unmarshal([]byte(c.Body), &body) == nil {
			w.Step = body.Step
		}
		out = append(out, w)
	}
	return out
}

// header reads a recorded header whatever the case the app sent it in.
func header(c agent.Call, name string) string {
	if v, ok := c.Header[http.CanonicalHeaderKey(name)]; ok {
		return v
	}
	for k, v := range c.Header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// checkHistory holds the store's record to what must be true whatever the scenario did: every
// write names its instance and carries an integer token, a token belongs to one holder only, and
// a holder stops writing under a token as soon as the store refused it.
func checkHistory(ws []write) error {
	owner := map[int64]write{} // each token's first write
	refusedAt := map[int64]write{}
	after := map[int64][]write{}
	for _, w := range ws {
		if !w.TokenOK {
			return scenarios.Failf("every write to the store to carry an integer Fencing-Token header",
				"Send the token your lock acquisition returned, e.g. Fencing-Token: 42.",
				"a write with Fencing-Token %q (store answered %d)", w.RawToken, w.Status)
		}
		if w.Instance == "" {
			return scenarios.Failf("every write to the store to carry X-Instance-Id with the replica's INSTANCE_ID",
				"Set the X-Instance-Id header to the INSTANCE_ID environment variable.",
				"a write under token %d without X-Instance-Id", w.Token)
		}
		prev, ok := owner[w.Token]
		if ok && prev.Instance != w.Instance {
			return explainTokenOrder(prev, w)
		}
		if !ok {
			owner[w.Token] = w
		}
		if _, ok := refusedAt[w.Token]; ok {
			after[w.Token] = append(after[w.Token], w)
			continue
		}
		if w.refused() {
			refusedAt[w.Token] = w
		}
	}
	tokens := make([]int64, 0, len(after))
	for t := range after {
		tokens = append(tokens, t)
	}
	sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
	for _, t := range tokens {
		first := refusedAt[t]
		return scenarios.Failf(fmt.Sprintf("%s to stop writing under token %d once the store refused it with 409", first.Instance, t),
			"A 409 from the store means another worker took the lock over: stop the job at once, release your lock only if it is still yours, and answer 409.",
			"%d more write(s) under token %d after the refusal of step %d: %s", len(after[t]), t, first.Step, describeWrites(after[t], 5))
	}
	return nil
}

// runWrites returns the writes made under one token.
func runWrites(ws []write, token int64) []write {
	var out []write
	for _, w := range ws {
		if w.TokenOK && w.Token == token {
			out = append(out, w)
		}
	}
	return out
}

// expectComplete checks that the run under token wrote every step once, in order, accepted, from
// instance, with the contract's pause between steps.
func expectComplete(ws []write, instance string, token int64, what string) error {
	mine := runWrites(ws, token)
	expected := fmt.Sprintf("%s (token %d) to have written steps 1 to %d to the store, each accepted, from %s", what, token, Steps, instance)
	ok := len(mine) == Steps
	for i, w := range mine {
		if !ok || w.Step != i+1 || !w.Accepted || w.Status != http.StatusOK || w.Instance != instance {
			ok = false
			break
		}
	}
	if !ok {
		hint := fmt.Sprintf("Write steps 1 to %d in order with POST $DOWNSTREAM_URL%s, body {\"step\": n}, the run's Fencing-Token and X-Instance-Id, and answer 200 only when every step was accepted.", Steps, StorePath)
		actual := fmt.Sprintf("the store's record for token %d: %s", token, describeWrites(mine, Steps+2))
		for _, w := range mine {
			if w.refused() {
				hint = "Another run took the lock while this run held a live lease: only the lock's owner may delete it (compare-and-delete), and both replicas must take the same Redis key with SET NX PX."
				if in := newerWriters(ws, mine[0].Seq, w.Seq, token); len(in) > 0 {
					actual += fmt.Sprintf("; before the refusal of step %d, %s", w.Step, describeWrites(in, 2))
				}
				break
			}
		}
		return scenarios.Failf(expected, hint, "%s", actual)
	}
	for i := 1; i < len(mine); i++ {
		if gap := mine[i].Start.Sub(mine[i-1].End); gap < minStepGap {
			return scenarios.Failf(fmt.Sprintf("%s to wait %s between steps", what, StepPause),
				fmt.Sprintf("Sleep %s after each step's answer before writing the next: the scenarios freeze and kill workers in the middle of a run.", StepPause),
				"step %d started %s after step %d was answered", i+1, gap.Round(time.Millisecond), i)
		}
	}
	return nil
}

// othersThan returns the writes not made under token.
func othersThan(ws []write, token int64) []write {
	var out []write
	for _, w := range ws {
		if !w.TokenOK || w.Token != token {
			out = append(out, w)
		}
	}
	return out
}

func describeWrites(ws []write, limit int) string {
	if len(ws) == 0 {
		return "no writes"
	}
	var parts []string
	for i, w := range ws {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(ws)-limit))
			break
		}
		parts = append(parts, w.describe())
	}
	return strings.Join(parts, "; ")
}

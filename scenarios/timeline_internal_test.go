package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestFoldConnects: a pool opening a dozen connections at once reads as one event per client
// and link; a connection long after, a failed one, or another client's stays its own.
func TestFoldConnects(t *testing.T) {
	t.Parallel()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var in []agent.Event
	for i := range 12 {
		in = append(in, agent.Event{At: ms(10 + 30*i), Kind: agent.EventConnect, From: "app", To: "redis", What: "connect"})
	}
	in = append(in,
		agent.Event{At: ms(345), Kind: agent.EventConnect, From: "app-2", To: "redis", What: "connect"},
		agent.Event{At: ms(350), Kind: agent.EventRequest, From: "harness", To: "app", What: "GET /"},
		agent.Event{At: ms(360), Kind: agent.EventConnect, From: "app", To: "redis", What: "connect", Note: "the link could not reach redis"},
		agent.Event{At: ms(2000), Kind: agent.EventConnect, From: "app", To: "redis", What: "connect"},
	)
	var got []string
	for _, e := range foldConnects(in) {
		got = append(got, e.From+">"+e.To+" "+e.What)
	}
	want := "app>redis connect ×12|app-2>redis connect|harness>app GET /|app>redis connect|app>redis connect"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

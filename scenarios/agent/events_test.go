package agent

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestEventLogKeepsHeadAndTail: past its bound the log keeps the first EventHead and the latest
// EventTail events, counts the rest in one gap, and finishing a dropped event changes nothing.
func TestEventLogKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	l := NewEventLog()
	const n = EventHead + EventTail + 250
	ids := make([]int, n)
	for i := range n {
		ids[i] = l.Add(Event{Kind: EventRequest, What: "GET /" + strconv.Itoa(i), At: time.Duration(i + 1)})
	}
	for _, i := range []int{0, EventHead + 10, n - 1} { // kept, dropped, kept
		l.Finish(ids[i], func(e *Event) { e.Status = 200 })
	}
	got := l.Events()
	if len(got) != EventHead+1+EventTail {
		t.Fatalf("%d events; want %d kept and one gap", len(got), EventHead+EventTail)
	}
	gap := got[EventHead]
	if gap.Kind != EventGap || gap.Omitted != 250 {
		t.Fatalf("event %d is %+v; want a gap of 250", EventHead, gap)
	}
	if got[EventHead-1].What != "GET /"+strconv.Itoa(EventHead-1) || got[EventHead+1].What != "GET /"+strconv.Itoa(EventHead+250) || got[len(got)-1].What != "GET /"+strconv.Itoa(n-1) {
		t.Fatalf("kept %q … %q, %q … %q; want the first %d and the last %d in order", got[0].What, got[EventHead-1].What,
			got[EventHead+1].What, got[len(got)-1].What, EventHead, EventTail)
	}
	if got[0].Status != 200 || got[len(got)-1].Status != 200 || got[0].End == 0 {
		t.Fatalf("finished events %+v, %+v; want status 200 and an end", got[0], got[len(got)-1])
	}
	for _, e := range got {
		if strings.HasSuffix(e.What, "/"+strconv.Itoa(EventHead+10)) {
			t.Fatalf("dropped event %q is still there", e.What)
		}
	}
	l.Reset(false)
	if got := l.Events(); len(got) != 0 {
		t.Fatalf("after Reset: %d events, want none", len(got))
	}
}

// TestEventLogFinishAfterReset: a request added before a Reset (an earlier scenario's, maybe a
// hidden one's) and answered after it changes nothing in the new record, whether the old
// request sat in the head or in the ring.
func TestEventLogFinishAfterReset(t *testing.T) {
	t.Parallel()
	l := NewEventLog()
	var head, ring int
	for i := range EventHead + EventTail + 100 {
		id := l.Add(Event{Kind: EventRequest, What: "GET /hidden/" + strconv.Itoa(i)})
		switch i {
		case 3:
			head = id
		case EventHead + EventTail + 50:
			ring = id
		}
	}
	l.Reset(true)
	for i := range EventHead + 10 {
		l.Add(Event{Kind: EventRequest, What: "GET /public/" + strconv.Itoa(i)})
	}
	for _, id := range []int{head, ring} {
		l.Finish(id, func(e *Event) { e.Status, e.Answer = 418, "the hidden scenario's answer" })
	}
	got := l.Events()
	if len(got) != EventHead+10 {
		t.Fatalf("%d events after the reset; want %d", len(got), EventHead+10)
	}
	for _, e := range got {
		if e.Status != 0 || e.Answer != "" || e.End != 0 || !strings.HasPrefix(e.What, "GET /public/") {
			t.Fatalf("event %+v: an answer from before the reset landed on it", e)
		}
	}
}

// TestProviderRecordsCharges: each charge request becomes one event with its key, the start of
// its body, the status answered and what the provider did (charged, replayed, the fault).
func TestProviderRecordsCharges(t *testing.T) {
	t.Parallel()
	p := NewProvider()
	p.events = NewEventLog()
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	if err := p.Behave(ProviderBehaviour{Mode: ModeChargeThenFail, Count: 1}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	if code, _ := charge(t, srv.URL, "k1", 100, "pay_"+long); code != http.StatusBadRequest {
		t.Fatalf("charge with a 304-byte payment id: %d, want 400", code)
	}
	if code, _ := charge(t, srv.URL, "k1", 100, "pay_1"); code != http.StatusInternalServerError {
		t.Fatalf("first charge: %d, want the fault's 500", code)
	}
	if code, _ := charge(t, srv.URL, "k1", 100, "pay_1"); code != http.StatusOK {
		t.Fatalf("retry: %d, want 200", code)
	}
	got := p.events.Events()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	if e := got[0]; e.Status != 400 || len(e.Body) > MaxEventBody+len("…") || !strings.HasSuffix(e.Body, "…") {
		t.Errorf("bad request event %+v; want status 400 and a body cut to %d bytes", e, MaxEventBody)
	}
	if e := got[1]; e.Key != "k1" || e.Status != 500 || e.Note != "charged ch_000001; fault charge_then_fail" ||
		e.Body != `{"amount":100,"currency":"usd","payment_id":"pay_1"}` || e.End < e.At {
		t.Errorf("faulted charge event %+v", e)
	}
	if e := got[2]; e.Status != 200 || e.Note != "replayed ch_000001, no new charge" {
		t.Errorf("replay event %+v", e)
	}
}

// TestFakesBoundWhatTheyRecord: whatever the app sends the provider and the downstream, an
// event keeps at most MaxEventBody bytes of its path, key, body and fencing token, cut on a
// character's boundary: the record is bounded in memory as in the report.
func TestFakesBoundWhatTheyRecord(t *testing.T) {
	t.Parallel()
	log := NewEventLog()
	p, d := NewProvider(), NewDownstream()
	p.events, d.events = log, log
	defer p.Close()
	defer d.Close()
	long := strings.Repeat("é", 3000) // two bytes each: a cut may fall inside one
	for _, c := range []struct {
		h    http.Handler
		path string
	}{{p, "/v1/charges/" + long}, {p, "/v1/charges"}, {d, "/products/" + long + "?q=" + long}} {
		srv := httptest.NewServer(c.h)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, strings.NewReader(`{"amount":1,"payment_id":"`+long+`"}`))
		req.Header.Set("Idempotency-Key", strings.Repeat("k", 200))
		req.Header.Set(FencingHeader, long)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
	}
	got := log.Events()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3", len(got))
	}
	for _, e := range got {
		for name, v := range map[string]string{"what": e.What, "key": e.Key, "body": e.Body, "note": e.Note} {
			if len(v) > MaxEventBody+len("…") || !utf8.ValidString(v) {
				t.Errorf("%s %.30q: %s keeps %d bytes (valid UTF-8: %v); want at most %d and a whole character",
					e.To, e.What, name, len(v), utf8.ValidString(v), MaxEventBody)
			}
		}
	}
	if e := got[2]; !strings.HasPrefix(e.Note, "fencing token é") {
		t.Errorf("downstream call's note %q; want its fencing token", e.Note)
	}
}

// TestProviderRecordsHangUp: a charge the app gives up on reads as no answer, and when.
func TestProviderRecordsHangUp(t *testing.T) {
	t.Parallel()
	p := NewProvider()
	p.events = NewEventLog()
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()
	if err := p.Behave(ProviderBehaviour{Mode: ModeChargeThenHang, Count: 1, HangMS: 5000}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/charges", strings.NewReader(`{"amount":1,"currency":"usd","payment_id":"p"}`))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the hang answered")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if got := p.events.Events(); len(got) == 1 && got[0].End != 0 {
			e := got[0]
			if e.Status != 0 || e.Note != "charged ch_000001; fault charge_then_hang; the app hung up before the answer" ||
				e.End-e.At < 150*time.Millisecond || e.End-e.At > time.Second {
				t.Fatalf("hang event %+v (after %s)", e, e.End-e.At)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no finished event: %+v", p.events.Events())
}

func TestCutBody(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"  {}\n", "{}"},
		{strings.Repeat("a", MaxEventBody), strings.Repeat("a", MaxEventBody)},
		{strings.Repeat("a", MaxEventBody+1), strings.Repeat("a", MaxEventBody) + "…"},
		{strings.Repeat("a", MaxEventBody-1) + "é", strings.Repeat("a", MaxEventBody-1) + "…"}, // never half a character
	} {
		if got := CutBody([]byte(c.in)); got != c.want {
			t.Errorf("CutBody(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkEventLog is the cost per request of recording it: one Add and one Finish, past the
// head, in the ring.
func BenchmarkEventLog(b *testing.B) {
	l := NewEventLog()
	body := []byte(`{"amount":5100,"currency":"usd","payment_id":"pay_a881bac03b5856b363f805a6"}`)
	b.ReportAllocs()
	for b.Loop() {
		id := l.Add(Event{Kind: EventRequest, From: "harness", To: "app", What: "POST /api/payments", Key: "k1", Body: CutBody(body)})
		l.Finish(id, func(e *Event) { e.Status = 201 })
	}
}

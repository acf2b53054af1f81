package githubtest

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
)

func TestDeliveriesAreSignedRecordedAndFilteredByStatus(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	hook := newHookReceiver(t, "s3cret")
	hook.status = func(n int, event string) int {
		if event == "push" {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	}
	s.SetWebhook(hook.srv.URL+"/webhook", []byte("s3cret"))

	failedGUID, status := s.Deliver("push", []byte(`{"ref":"refs/heads/main","installation":{"id":7},"repository":{"id":123}}`))
	if status != http.StatusInternalServerError {
		t.Errorf("the push delivery answered %d, want 500", status)
	}
	okGUID, status := s.Deliver("check_run", []byte(`{"action":"rerequested","installation":{"id":7}}`))
	if status != http.StatusAccepted {
		t.Errorf("the check_run delivery answered %d, want 202", status)
	}
	if failedGUID == okGUID || len(okGUID) != 36 || strings.Count(okGUID, "-") != 4 {
		t.Errorf("GUIDs %q and %q, want two distinct UUIDs", failedGUID, okGUID)
	}
	got := hook.received()
	if len(got) != 2 || got[0].header.Get("X-GitHub-Delivery") != failedGUID || got[1].header.Get("X-GitHub-Event") != "check_run" ||
		got[0].header.Get("X-GitHub-Hook-Installation-Target-ID") != strconv.FormatInt(s.AppID, 10) {
		t.Fatalf("the webhook received %+v", got)
	}

	apps := jwtClient(t, s)
	all, _, err := apps.Apps.ListHookDeliveries(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].GetGUID() != okGUID || all[1].GetGUID() != failedGUID {
		t.Fatalf("listed %v, want the check_run delivery then the push one", all)
	}
	ok, failed := all[0], all[1]
	if ok.GetStatus() != "OK" || ok.GetStatusCode() != 202 || ok.GetAction() != "rerequested" || ok.GetInstallationID() != 7 ||
		ok.RepositoryID != nil || ok.GetRedelivery() || ok.GetDuration() == nil || ok.GetDeliveredAt().IsZero() {
		t.Errorf("the check_run delivery is listed as %v", ok)
	}
	if failed.GetStatus() != "Invalid HTTP Response: 500" || failed.GetStatusCode() != 500 || failed.Action != nil ||
		failed.GetEvent() != "push" || failed.GetRepositoryID() != 123 {
		t.Errorf("the push delivery is listed as %v", failed)
	}
	if ok.Request != nil || ok.Response != nil {
		t.Errorf("a listed delivery carries its request or response: %v", ok)
	}

	for _, tc := range []struct {
		status string
		want   []string
	}{{"failure", []string{failedGUID}}, {"success", []string{okGUID}}} {
		// go-github's options have no status; it is added by hand.
		req, _ := apps.NewRequest("GET", "app/hook/deliveries?status="+tc.status, nil)
		var ds []*github.HookDelivery
		if _, err := apps.Do(ctx(t), req, &ds); err != nil {
			t.Fatal(err)
		}
		var guids []string
		for _, d := range ds {
			guids = append(guids, d.GetGUID())
		}
		if !slices.Equal(guids, tc.want) {
			t.Errorf("status=%s lists %q, want %q", tc.status, guids, tc.want)
		}
	}

	full, _, err := apps.Apps.GetHookDelivery(ctx(t), failed.GetID())
	if err != nil {
		t.Fatal(err)
	}
	reqHeaders, respHeaders := full.GetRequest().GetHeaders(), full.GetResponse().GetHeaders()
	if reqHeaders["X-GitHub-Delivery"] != failedGUID || reqHeaders["X-GitHub-Event"] != "push" ||
		!strings.HasPrefix(reqHeaders["X-Hub-Signature-256"], "sha256=") || respHeaders["X-Receiver"] != "test" {
		t.Errorf("request headers %v, response headers %v", reqHeaders, respHeaders)
	}
	var payload map[string]any
	if err := json.Unmarshal(full.GetRequest().GetRawPayload(), &payload); err != nil || payload["ref"] != "refs/heads/main" {
		t.Errorf("request payload %s (%v)", full.GetRequest().GetRawPayload(), err)
	}
	var answer string
	if err := json.Unmarshal(full.GetResponse().GetRawPayload(), &answer); err != nil || answer != "answer 1" {
		t.Errorf("response payload %s (%v), want the webhook's body", full.GetResponse().GetRawPayload(), err)
	}

	ds := s.Deliveries()
	if len(ds) != 2 || ds[0].GUID != failedGUID || ds[0].StatusCode != 500 || ds[1].Action != "rerequested" || string(ds[0].Payload) == "" {
		t.Errorf("Deliveries() = %+v", ds)
	}
}

func TestDeliveriesArePaginatedByCursor(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	hook := newHookReceiver(t, "k")
	s.SetWebhook(hook.srv.URL, []byte("k"))
	var want []string // newest first
	for i := range 7 {
		guid, _ := s.Deliver("ping", []byte(`{"zen":"`+strconv.Itoa(i)+`"}`))
		want = append([]string{guid}, want...)
	}
	apps := jwtClient(t, s)
	var seen []string
	opts := &github.ListCursorOptions{PerPage: 3}
	for page := 1; ; page++ {
		ds, resp, err := apps.Apps.ListHookDeliveries(ctx(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		if wantLen := []int{3, 3, 1}[min(page, 3)-1]; len(ds) != wantLen {
			t.Errorf("page %d holds %d deliveries, want %d", page, len(ds), wantLen)
		}
		for _, d := range ds {
			seen = append(seen, d.GetGUID())
		}
		link := resp.Header.Get("Link")
		if resp.Cursor == "" {
			if link != "" {
				t.Errorf("the last page links %q", link)
			}
			break
		}
		if !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "cursor="+resp.Cursor) || !strings.Contains(link, "per_page=3") {
			t.Errorf("page %d's Link is %q", page, link)
		}
		if page > 5 {
			t.Fatal("the pages do not end")
		}
		opts.Cursor = resp.Cursor
	}
	if !slices.Equal(seen, want) {
		t.Errorf("the pages listed %q, want each delivery once, newest first: %q", seen, want)
	}

	for _, cursor := range []string{"bogus", "v1_999999999"} {
		_, _, err := apps.Apps.ListHookDeliveries(ctx(t), &github.ListCursorOptions{Cursor: cursor})
		if statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("cursor %q: %v, want 422", cursor, err)
		}
	}
}

func TestRedeliveryReachesTheWebhookAgainWithTheSameGUID(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	hook := newHookReceiver(t, "s3cret")
	hook.status = func(n int, _ string) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	s.SetWebhook(hook.srv.URL, []byte("s3cret"))
	payload := `{"action":"requested","installation":{"id":7},"repository":{"id":5}}`
	guid, status := s.Deliver("check_suite", []byte(payload))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("the first delivery answered %d, want 503", status)
	}
	apps := jwtClient(t, s)
	first := s.Deliveries()[0]

	_, resp, err := apps.Apps.RedeliverHookDelivery(ctx(t), first.ID)
	var accepted *github.AcceptedError
	if !errors.As(err, &accepted) || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("redelivering: %v, want 202", err)
	}
	s.WaitDeliveries()

	got := hook.received()
	if len(got) != 2 || got[1].header.Get("X-GitHub-Delivery") != guid || string(got[1].body) != payload {
		t.Fatalf("the webhook received %d deliveries, the second %v", len(got), got[len(got)-1])
	}
	ds := s.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("%d deliveries recorded, want 2", len(ds))
	}
	again := ds[1]
	if again.GUID != guid || again.ID == first.ID || !again.Redelivery || again.StatusCode != 200 || first.Redelivery {
		t.Errorf("deliveries %+v then %+v; want the second a redelivery under the same GUID with a new id", first, again)
	}
	listed, _, err := apps.Apps.ListHookDeliveries(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].GetID() != again.ID || !listed[0].GetRedelivery() || listed[0].GetGUID() != guid || listed[1].GetRedelivery() {
		t.Errorf("listed %v, want the redelivery first", listed)
	}
}

func TestDeliveryToAClosedPortFailsToConnect(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s.SetWebhook("http://"+addr+"/webhook", []byte("k"))
	guid, status := s.Deliver("ping", []byte(`{"zen":"Keep it logically awesome."}`))
	if guid == "" || status != 0 {
		t.Errorf("Deliver = %q, %d; want a GUID and 0", guid, status)
	}
	ds := s.Deliveries()
	if len(ds) != 1 || ds[0].StatusCode != 0 || ds[0].Status != "failed to connect" {
		t.Fatalf("Deliveries() = %+v, want one that failed to connect", ds)
	}
	full, _, err := jwtClient(t, s).Apps.GetHookDelivery(ctx(t), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := full.GetResponse().GetRawPayload(); full.GetStatusCode() != 0 || full.GetStatus() != "failed to connect" ||
		full.GetResponse().Headers != nil || (len(p) != 0 && string(p) != "null") {
		t.Errorf("the delivery reads %v, response payload %q", full, p)
	}
	// Neither a success nor a failure by status code: GitHub's ranges are 200–399 and 400–599.
	for _, status := range []string{"success", "failure"} {
		c := jwtClient(t, s)
		req, _ := c.NewRequest("GET", "app/hook/deliveries?status="+status, nil)
		var listed []*github.HookDelivery
		if _, err := c.Do(ctx(t), req, &listed); err != nil || len(listed) != 0 {
			t.Errorf("status=%s lists %v (%v), want none", status, listed, err)
		}
	}
}

func TestDeliveryToASilentWebhookTimesOut(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.hookClient.Timeout = 100 * time.Millisecond // GitHub's 10 s, shortened
	hook := newHookReceiver(t, "k")
	release := make(chan struct{})
	hook.status = func(int, string) int { <-release; return http.StatusOK }
	s.SetWebhook(hook.srv.URL, []byte("k"))
	start := time.Now()
	_, status := s.Deliver("ping", []byte(`{}`))
	close(release)
	if status != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("Deliver answered %d after %v, want 0 after 100ms", status, time.Since(start))
	}
	if ds := s.Deliveries(); len(ds) != 1 || ds[0].Status != "timed out" {
		t.Errorf("Deliveries() = %+v, want one that timed out", ds)
	}
}

func TestDeliveriesAreKeptThreeDays(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	hook := newHookReceiver(t, "k")
	s.SetWebhook(hook.srv.URL, []byte("k"))
	s.Deliver("ping", []byte(`{"zen":"old"}`))
	recent, _ := s.Deliver("ping", []byte(`{"zen":"new"}`))
	s.mu.Lock()
	old := s.sortedDeliveries()[0]
	old.DeliveredAt = s.now().Add(-deliveryRetention - time.Minute)
	s.mu.Unlock()

	apps := jwtClient(t, s)
	listed, _, err := apps.Apps.ListHookDeliveries(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].GetGUID() != recent {
		t.Errorf("listed %v, want only the recent delivery", listed)
	}
	if _, _, err := apps.Apps.GetHookDelivery(ctx(t), old.ID); statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("getting the old delivery: %v, want 422", err)
	}
	if _, _, err := apps.Apps.RedeliverHookDelivery(ctx(t), old.ID); statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("redelivering the old delivery: %v, want 422", err)
	}
	s.WaitDeliveries()
	if n := len(s.Deliveries()); n != 2 || len(hook.received()) != 2 {
		t.Errorf("%d deliveries and %d received, want 2 each: nothing redelivered", n, len(hook.received()))
	}
}

func TestDeliveryAPIsNeedTheAppJWT(t *testing.T) {
	t.Parallel()
	spy := &spyTB{TB: t}
	s := newFake(spy)
	status, _ := raw(t, s, "token "+s.Token(instID), "GET", "/app/hook/deliveries", "")
	if status != http.StatusUnauthorized {
		t.Errorf("answered %d, want 401", status)
	}
	spy.expectFailure(t, "apps/list-webhook-deliveries", "not authenticated")
}

package webhookreceiver_test

import (
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
	"github.com/holdfast-ci/holdfast/scenarios/webhookreceiver"
)

// TestBriefStatesTheContract holds README.md to the scenario table and to every number the
// scenarios judge by: a change on one side must show on the other.
func TestBriefStatesTheContract(t *testing.T) {
	brief := scenariotest.ReadBrief(t, webhookreceiver.Slug)
	for _, s := range webhookreceiver.Scenarios() {
		listed := strings.Contains(brief, "`"+s.Slug+"`")
		switch {
		case s.Visibility == scenarios.Public && (!listed || !strings.Contains(brief, s.Title)):
			t.Errorf("public scenario %s: the brief's table must list its slug and title %q", s.Slug, s.Title)
		case s.Visibility != scenarios.Public && listed:
			t.Errorf("hidden scenario %s is named in the brief", s.Slug)
		}
	}
	for _, want := range []string{
		"the string `holdfast-webhook-secret`",                      // Secret
		"`<Webhook-Id>.<Webhook-Timestamp>.<raw body>`",             // Sign
		"**5 minutes** before or after",                             // Tolerance
		"answered within\n  **500 ms**",                             // AckWithin
		"applied within **3 s**",                                    // AppliedWithin
		"takes 1.2 s to answer",                                     // SlowLatency
		"takes 200 ms or 1.2 s to answer",                           // burstLatency, SlowLatency
		"all 3 applied once within 6 s",                             // SlowAppliedWithin, slowEvents
		"at most **2 s** between two attempts",                      // MaxBackoff
		"applied within **5 s**",                                    // RecoverWithin after recovery
		"within **5 s** of their restart",                           // RecoverWithin after a restart
		"**`PUT $DOWNSTREAM_URL/accounts/{account}`**",              // accountsPath
		"signed 6 minutes ago, or 6 minutes ahead",                  // staleBy
		"signed 4 minutes ago",                                      // recentBy
		"4 credits each delivered 6 times at once",                  // dupEvents, copies
		"the Postgres link is slowed by 15 ms each way",             // DBLatency
		"4 credits acknowledged while the downstream never answers", // restartEvents
		"waits 250 ms past the last application",                    // settle
		"**Two replicas**",                                          // challenge.yaml replicas: 2
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the brief does not say %q", want)
		}
	}
	if webhookreceiver.Secret != "holdfast-webhook-secret" || webhookreceiver.Tolerance.String() != "5m0s" ||
		webhookreceiver.AckWithin.String() != "500ms" || webhookreceiver.AppliedWithin.String() != "3s" ||
		webhookreceiver.SlowLatency.String() != "1.2s" || webhookreceiver.SlowAppliedWithin.String() != "6s" ||
		webhookreceiver.MaxBackoff.String() != "2s" || webhookreceiver.RecoverWithin.String() != "5s" ||
		webhookreceiver.DBLatency.String() != "15ms" {
		t.Error("a contract number changed: update README.md and this test together")
	}
}

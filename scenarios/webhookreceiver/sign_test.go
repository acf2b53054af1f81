package webhookreceiver_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/webhookreceiver"
)

// TestSign holds the grader's signature to values computed independently (Python's hmac and
// hashlib), so that the brief's recipe and the deliveries agree.
func TestSign(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		secret, id, ts, body, want string
	}{
		{webhookreceiver.Secret, "evt_1", "1700000000", `{"id":"evt_1"}`, "v1=5caf0a047bed40a8eb5eda4d29e7b681d45a01324833de815021f8c936a536f3"},
		{"other", "a", "b", "", "v1=7089c7078f9971cf3757abe26fd96a81e34a4d30584e3463cda66fe13d916a24"},
	} {
		if got := webhookreceiver.Sign(c.secret, c.id, c.ts, []byte(c.body)); got != c.want {
			t.Errorf("Sign(%q, %q, %q, %q) = %s, want %s", c.secret, c.id, c.ts, c.body, got, c.want)
		}
	}
}

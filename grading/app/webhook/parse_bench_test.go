package webhook

import (
	"crypto/hmac"
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkVerifyAndParse is the handler's CPU for one push before it touches the database:
// the X-Hub-Signature-256 check and the JSON decode of the real push.new-branch fixture
// (../shared/github/webhooks).
//
//	go test -run '^$' -bench VerifyAndParse ./grading/app/webhook/
func BenchmarkVerifyAndParse(b *testing.B) {
	body, err := os.ReadFile("../../../../shared/github/webhooks/push.new-branch.json") // as the bench sends it, give or take a ref
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("bench-secret")
	sig := Signature(secret, body)
	b.Run("hmac", func(b *testing.B) {
		b.SetBytes(int64(len(body))) // per sub-benchmark: the parent's does not reach them
		for b.Loop() {
			if !hmac.Equal([]byte(sig), []byte(Signature(secret, body))) {
				b.Fatal("signature mismatch")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var p payload
			if err := json.Unmarshal(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
